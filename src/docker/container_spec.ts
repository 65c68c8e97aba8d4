/** The create request of a job container: deterministic name, labels, mounts, and the hardened HostConfig. */
import { jobSlug } from "./job_name.ts";
import { parseImageReference } from "./reference.ts";
import { InvalidJobSpecError, validateJobEnv, validateOutputPath } from "./rules.ts";
import { effectiveLimits, type JobLimits } from "./limits.ts";

/** Label keys every job container carries. */
export const LABELS = {
  agent: "lamda.agent",
  jobId: "lamda.job_id",
  attempt: "lamda.attempt",
  /** The job's time limit, so that a restarted agent keeps enforcing it. */
  timeoutMs: "lamda.timeout_ms",
} as const;

/** One job attempt as the Docker component runs it. */
export interface JobContainerSpec {
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The agent's address; labels the container as this agent's. */
  agentAddress: string;
  image: string;
  /** Overrides the image's CMD (ENTRYPOINT kept); undefined runs the image's own CMD/ENTRYPOINT. */
  command?: string[];
  env?: Record<string, string>;
  /** Assigned GPU UUIDs; empty or undefined for a CPU-only job. */
  gpuIds?: string[];
  /** Host directory mounted read-only at `/input`; none when the job has no input. */
  inputDir?: string;
  /** Host directory mounted read-write at `outputPath`. */
  outputDir: string;
  /** Absolute path inside the container; default `/output`. */
  outputPath?: string;
  resources?: { memoryMb?: number; cpus?: number };
  timeoutSeconds?: number;
  /**
   * A network-sandbox holder whose namespace the container joins (`NetworkMode: container:<id>`, see net_sandbox.ts);
   * only with the `none` network, which the holder has.
   */
  networkContainer?: string;
}

/** The deterministic container name of one job attempt: `lamda-job-<id>-<hash>-a<attempt>`. */
export function containerName(jobId: string, attempt: number): string {
  return `lamda-job-${jobSlug(jobId)}-a${attempt}`;
}

/** The create body plus the values derived on the way. */
export interface BuiltContainer {
  name: string;
  body: Record<string, unknown>;
  timeoutMs: number;
  outputPath: string;
}

/** Checks the spec (all before any API call) and builds the create request under `limits`. */
export function buildContainer(spec: JobContainerSpec, limits: JobLimits): BuiltContainer {
  if (!Number.isInteger(spec.attempt) || spec.attempt < 1) {
    throw new InvalidJobSpecError("attempt", `attempt ${spec.attempt} must be a positive integer`);
  }
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(spec.jobId)) {
    throw new InvalidJobSpecError(
      "job_id",
      `job_id ${JSON.stringify(spec.jobId)} must be 1-128 letters, digits or ._:-`,
    );
  }
  const image = parseImageReference(spec.image);
  const outputPath = validateOutputPath(spec.outputPath ?? "/output");
  const env = validateJobEnv(spec.env ?? {});
  if (spec.command !== undefined) {
    if (!Array.isArray(spec.command) || spec.command.length === 0) {
      throw new InvalidJobSpecError("command", "command must be a non-empty array of strings");
    }
    if (spec.command.some((c) => typeof c !== "string" || c.includes("\0"))) {
      throw new InvalidJobSpecError("command", "command items must be strings without NUL bytes");
    }
  }
  const gpuIds = spec.gpuIds ?? [];
  for (const id of gpuIds) {
    // GPU UUIDs (GPU-…, MIG-…) or indexes; never a comma, which the NVIDIA hook would read as a list separator.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/.test(id)) {
      throw new InvalidJobSpecError("gpus", `GPU id ${JSON.stringify(id)} is not a device UUID or index`);
    }
  }
  for (const [field, dir] of [["input", spec.inputDir], ["output", spec.outputDir]] as const) {
    if (dir !== undefined && (!dir.startsWith("/") || dir.split("/").includes(".."))) {
      // The agent builds these paths, not the job: a relative one is the node's problem (internal_error).
      throw new Error(`${field} directory ${JSON.stringify(dir)} must be an absolute host path (node-side error)`);
    }
  }
  if (spec.networkContainer !== undefined && !/^[0-9a-f]{12,64}$/.test(spec.networkContainer)) {
    throw new Error(`network sandbox ${JSON.stringify(spec.networkContainer)} is not a container id (node-side error)`);
  }
  const eff = effectiveLimits(limits, { ...spec.resources, timeoutSeconds: spec.timeoutSeconds });
  const mounts: Record<string, unknown>[] = [];
  if (spec.inputDir !== undefined) {
    mounts.push({ Type: "bind", Source: spec.inputDir, Target: "/input", ReadOnly: true });
  }
  mounts.push({ Type: "bind", Source: spec.outputDir, Target: outputPath, ReadOnly: false });
  const hostConfig: Record<string, unknown> = {
    Mounts: mounts,
    CapDrop: ["ALL"],
    SecurityOpt: ["no-new-privileges"],
    Privileged: false,
    ReadonlyRootfs: true,
    Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${limits.tmpfsSizeBytes},mode=1777` },
    PidsLimit: limits.pidsLimit,
    Memory: eff.memoryBytes,
    MemorySwap: eff.memoryBytes,
    NanoCpus: eff.nanoCpus,
    ShmSize: limits.shmSizeBytes,
    NetworkMode: spec.networkContainer && limits.network === "none"
      ? `container:${spec.networkContainer}`
      : limits.network,
    IpcMode: "private",
    // A tiny init as PID 1 reaps zombies and forwards the stop signal, so a stop is not always a kill.
    Init: true,
    RestartPolicy: { Name: "no" },
    AutoRemove: false,
    LogConfig: {
      Type: "json-file",
      Config: { "max-size": String(Math.max(1, Math.floor(limits.containerLogBytes / 2))), "max-file": "2" },
    },
  };
  if (limits.runtime) hostConfig.Runtime = limits.runtime;
  if (gpuIds.length > 0) {
    hostConfig.DeviceRequests = [{ Driver: "nvidia", DeviceIDs: [...gpuIds], Capabilities: [["gpu"]] }];
  }
  const body: Record<string, unknown> = {
    Image: image.canonical,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: {
      [LABELS.agent]: spec.agentAddress,
      [LABELS.jobId]: spec.jobId,
      [LABELS.attempt]: String(spec.attempt),
      [LABELS.timeoutMs]: String(eff.timeoutMs),
    },
    AttachStdin: false,
    OpenStdin: false,
    Tty: false,
    HostConfig: hostConfig,
  };
  if (spec.command) body.Cmd = [...spec.command];
  if (limits.user) body.User = limits.user;
  return { name: containerName(spec.jobId, spec.attempt), body, timeoutMs: eff.timeoutMs, outputPath };
}
