/** The doctor's local checks: configuration, DATA_DIR, nvidia-smi and GPU health, Docker, its disk and its GPU support. */
import { join, resolve } from "node:path";
import { chainSettings, exposedMode, KeyError, loadWallet } from "../chain/mod.ts";
import type { Config, EnvFile } from "../config/mod.ts";
import { type DiskUsage, diskUsage, DockerEngine, engineOptionsFromConfig, NVIDIA_FIX } from "../docker/mod.ts";
import { detectGpus, GpuError, gpuOptionsFromConfig, HOT_GPU_C, readGpuHealth } from "../gpu/mod.ts";
import { formatBytes, type Logger } from "../log/mod.ts";
import { deniedAccess, shellLine } from "../permissions/mod.ts";
import { type CheckOutcome, type DoctorCheck, fail, oneLine, pass, warn } from "./doctor_report.ts";

/** Shared, lazily started probes: checks that depend on the same connection reuse one attempt. */
export interface LocalProbes {
  /** The node's address from AGENT_PRIVATE_KEY / AGENT_KEYSTORE, or undefined when no key is configured. */
  address(): Promise<string | undefined>;
  docker(): Promise<DockerEngine>;
}

/** Builds the shared probes; `close` releases what they opened. */
export function localProbes(config: Config, logger: Logger): LocalProbes & { close(): Promise<void> } {
  let wallet: Promise<string | undefined> | undefined;
  let docker: Promise<DockerEngine> | undefined;
  return {
    address() {
      wallet ??= !config.privateKey && !config.keystore
        ? Promise.resolve(undefined)
        : loadWallet(chainSettings(config).key, { logger }).then((w) => w.address);
      return wallet;
    },
    docker() {
      docker ??= DockerEngine.connect({
        ...engineOptionsFromConfig(config, "0x0000000000000000000000000000000000000000", logger),
        signal: AbortSignal.timeout(10_000),
      });
      return docker;
    },
    async close() {
      const engine = await docker?.catch(() => undefined);
      engine?.close();
    },
  };
}

/** Options of {@linkcode localChecks}. */
export interface LocalCheckOptions {
  /** Keep to what works on a host not yet provisioned: a missing key or JWT only warns. */
  offline?: boolean;
  /** The `.env` in use, when one was read: its mode is checked when it holds the key. */
  envFile?: Pick<EnvFile, "path" | "entries">;
}

/**
 * The local checks, in report order. With `offline` (packaging smoke tests, hosts not yet provisioned) a missing node
 * key or PINATA_JWT is a warning; otherwise it fails, since `run` refuses to start without them.
 */
export function localChecks(config: Config, probes: LocalProbes, options: LocalCheckOptions = {}): DoctorCheck[] {
  const gpuProblem = (found: string, fix: string): CheckOutcome =>
    config.gpuRequired
      ? fail(found, fix)
      // GPU_REQUIRED=false is already set: advice to set it does not belong in this row's fix.
      : warn(
        `${found} (GPU_REQUIRED=false: only CPU jobs can run)`,
        fix.replace(/,? or set GPU_REQUIRED=false[^;]*/, ""),
      );
  // A GPU error caused by the sandbox goes to the report's explainer, which names the setting and the flags command.
  const sandboxed = (error: GpuError) => deniedAccess(error) !== undefined;
  const checks: DoctorCheck[] = [
    {
      name: "config",
      local: true,
      fix: "set AGENT_PRIVATE_KEY (or AGENT_KEYSTORE + AGENT_KEYSTORE_PASSWORD_FILE) and PINATA_JWT; " +
        "`lamda-node-agent config` shows the effective values",
      async run() {
        const missing: string[] = [];
        let address;
        try {
          address = await probes.address();
        } catch (error) {
          // Each key problem (wrong password, open keystore, unreadable file) carries its own fix.
          if (error instanceof KeyError && !deniedAccess(error)) return fail(error.problem, error.fix);
          throw error;
        }
        if (!address) missing.push("AGENT_PRIVATE_KEY (or AGENT_KEYSTORE)");
        if (!config.pinataJwt) missing.push("PINATA_JWT");
        if (missing.length) {
          const found = `valid, but ${missing.join(" and ")} not set: \`run\` will refuse to start`;
          return options.offline ? warn(found, this.fix) : fail(found, this.fix);
        }
        return pass(`valid; node address ${address}; job intake ${config.jobIntake}`);
      },
    },
    {
      name: "data_dir",
      local: true,
      fix: `create DATA_DIR (${config.dataDir}) and make it writable by the agent's user, or point DATA_DIR elsewhere`,
      async run() {
        await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
        const probe = join(config.dataDir, `.doctor-${crypto.randomUUID()}`);
        await Deno.writeTextFile(probe, "ok");
        await Deno.remove(probe);
        return pass(`${config.dataDir} is writable`);
      },
    },
    {
      name: "nvidia_smi",
      local: true,
      fix: "install the NVIDIA driver (nvidia-smi on PATH or NVIDIA_SMI_PATH)",
      async run(signal) {
        try {
          const inv = await detectGpus({ ...gpuOptionsFromConfig(config), required: true, signal });
          const models = [...new Set(inv.gpus.map((g) => `${g.name} (${g.memoryTotalMiB} MiB)`))].join(", ");
          return pass(
            `${inv.gpus.length} GPU(s): ${models}; driver ${inv.driverVersion ?? "?"}, CUDA ${inv.cudaVersion ?? "?"}`,
          );
        } catch (error) {
          if (!(error instanceof GpuError) || sandboxed(error)) throw error;
          return gpuProblem(foundOf(error), fixOf(error, this.fix));
        }
      },
    },
    {
      name: "gpu_health",
      local: true,
      fix: "check the GPUs with `nvidia-smi -q`",
      async run(signal) {
        let readings;
        try {
          readings = await readGpuHealth({ ...gpuOptionsFromConfig(config), signal });
        } catch (error) {
          if (!(error instanceof GpuError) || sandboxed(error)) throw error;
          return gpuProblem(`no health readings: ${foundOf(error)}`, fixOf(error, this.fix));
        }
        if (readings.length === 0) return gpuProblem("no GPU to read", "install a GPU and the NVIDIA driver");
        const problems: string[] = [];
        const summary: string[] = [];
        for (const { index, health } of readings) {
          const t = health.temperatureC;
          summary.push(`GPU ${index} ${t ?? "?"}°C ${health.utilizationPercent ?? "?"}%`);
          if (t !== null && t > HOT_GPU_C) problems.push(`GPU ${index} runs at ${t}°C (above ${HOT_GPU_C}°C)`);
          const corrected = health.eccErrors.correctedVolatile;
          if (corrected !== null && corrected > 0) {
            problems.push(`GPU ${index} has ${corrected} corrected ECC error(s)`);
          }
          problems.push(...health.warnings);
        }
        if (problems.length) {
          return warn(
            problems.join("; "),
            "check cooling and power; drain and reset a GPU with uncorrected ECC errors (nvidia-smi -r)",
          );
        }
        return pass(summary.join(", "));
      },
    },
    {
      name: "docker",
      local: true,
      fix: `start dockerd and check DOCKER_HOST (${config.dockerHost}) and that this user may use the socket ` +
        "(member of the docker group)",
      async run() {
        const { capabilities: c } = await probes.docker();
        return pass(
          `Docker ${c.serverVersion}, Engine API ${c.apiVersion}, runtimes: ${c.runtimes.join(", ") || "none"}`,
        );
      },
    },
    {
      name: "docker_disk",
      local: true,
      fix: "free space on Docker's disk, or set DOCKER_DATA_ROOT to Docker's data root and let the agent read it",
      async run() {
        let root = config.dockerDataRoot;
        if (!root) {
          try {
            root = (await probes.docker()).capabilities.dataRoot;
          } catch (error) {
            return warn(`cannot ask Docker for its data root: ${oneLine(error)}`, "fix the docker check first");
          }
        }
        return diskVerdict(root, config);
      },
    },
    {
      // The name is older than the probe: the row reports whichever mechanism makes dockerd accept GPU requests.
      name: "nvidia_runtime",
      local: true,
      fix: NVIDIA_FIX,
      async run() {
        let engine;
        try {
          engine = await probes.docker();
        } catch (error) {
          return gpuProblem(`cannot ask Docker: ${oneLine(error)}`, "fix the docker check first");
        }
        // Proven at connect: dockerd was asked to start a container with the jobs' GPU request.
        const gpu = engine.capabilities.gpu;
        if (gpu.available) return pass(gpu.found);
        return gpuProblem(gpu.found, gpu.fix ?? NVIDIA_FIX);
      },
    },
  ];
  if (options.envFile) checks.splice(1, 0, envFileCheck(options.envFile, config.allowInsecureKeyFileMode));
  return checks;
}

/** `env_file`: a `.env` holding AGENT_PRIVATE_KEY must be readable by its owner only (`run` refuses it otherwise). */
function envFileCheck(envFile: Pick<EnvFile, "path" | "entries">, allowInsecure: boolean): DoctorCheck {
  const path = resolve(envFile.path);
  const fix = shellLine(["chmod", "600", path]);
  return {
    name: "env_file",
    local: true,
    fix,
    async run() {
      if (!envFile.entries.get("AGENT_PRIVATE_KEY")?.value.trim()) return pass(`${path} holds no private key`);
      const mode = await exposedMode(path, ".env file", ".env");
      if (mode === undefined) return pass(`${path} holds AGENT_PRIVATE_KEY and only its owner may read it`);
      const found = `${path} holds AGENT_PRIVATE_KEY and is readable by group/others (mode ${mode})`;
      return allowInsecure
        ? warn(`${found}; accepted because ALLOW_INSECURE_KEY_FILE_MODE=true`, fix)
        : fail(`${found}: \`run\` refuses to start`, fix);
    },
  };
}

// GPU error messages read "<what happened>: <what to do>"; the doctor shows the two parts apart.
function foundOf(error: GpuError): string {
  const text = oneLine(error);
  return error.kind === "failed" ? text : text.split(": ")[0];
}

function fixOf(error: GpuError, generic: string): string {
  const advice = oneLine(error).split(": ").slice(1).join(": ");
  return advice && error.kind !== "failed" ? advice : generic;
}

/** Docker's data root against the image watermarks: pass below the low one, warn above it, fail when full. */
export async function diskVerdict(
  root: string,
  config: Pick<Config, "imageGcHighPercent" | "imageGcLowPercent" | "imageCacheMaxBytes">,
  usageOf: (path: string) => Promise<DiskUsage> = diskUsage,
): Promise<CheckOutcome> {
  if (!root) return warn("dockerd does not report its data root", "set DOCKER_DATA_ROOT (e.g. /var/lib/docker)");
  let usage: DiskUsage;
  try {
    usage = await usageOf(root);
  } catch (error) {
    return warn(
      `cannot read the filesystem usage of Docker's data root ${root}: ${oneLine(error)}; image watermarks are off`,
      "set DOCKER_DATA_ROOT to Docker's data root (or a path on its filesystem) that this user may read",
    );
  }
  const pct = Math.round(usage.usedPercent * 10) / 10;
  const cap = config.imageCacheMaxBytes === undefined
    ? ""
    : `, IMAGE_CACHE_MAX_BYTES ${formatBytes(config.imageCacheMaxBytes)}`;
  const found = `Docker's data root ${root}: ${pct}% used, ${formatBytes(usage.freeBytes)} free ` +
    `(IMAGE_GC_HIGH_PERCENT ${config.imageGcHighPercent}, IMAGE_GC_LOW_PERCENT ${config.imageGcLowPercent}${cap})`;
  if (usage.freeBytes === 0) return fail(found, "free space on Docker's disk: every pull will fail disk_full");
  if (usage.usedPercent > config.imageGcHighPercent) {
    return warn(
      found,
      "above the high watermark: the agent removes unused images it pulled; if that is not enough, free space by hand",
    );
  }
  if (usage.usedPercent > config.imageGcLowPercent) {
    return warn(found, "near the high watermark: image removal starts above it");
  }
  return pass(found);
}
