/**
 * GPU detection: the identity query, the summary table (CUDA version, MIG memory), health readings and, when a GPU is in
 * MIG mode, the MIG instances — or pseudo GPUs in CPU-only mode.
 */
import type { Logger } from "../log/mod.ts";
import { parseCsvRows } from "./csv.ts";
import { classifyFailure, GpuError } from "./errors.ts";
import {
  decodeThrottle,
  HEALTH_ARGS,
  HEALTH_FIELDS,
  healthRow,
  IDENTITY_ARGS,
  IDENTITY_FIELDS,
  identityRow,
  LIST_ARGS,
  parseCudaVersion,
  SUMMARY_ARGS,
} from "./queries.ts";
import { describeUnschedulable, expandMig, type GpuListing, parseGpuList, parseMigTable } from "./mig.ts";
import { CommandNvidiaSmiRunner, type NvidiaSmiRunner } from "./runner.ts";
import type { GpuHealth, GpuInfo, GpuInventory } from "./types.ts";
import type { z } from "zod";

/** How to reach nvidia-smi. Either pass a `runner`, or the settings for the real one. */
export interface NvidiaSmiOptions {
  runner?: NvidiaSmiRunner;
  /** Executable name or path (`NVIDIA_SMI_PATH`). */
  nvidiaSmiPath?: string;
  /** Per-invocation timeout in ms (`NVIDIA_SMI_TIMEOUT`). */
  timeoutMs?: number;
  /** Extra environment for nvidia-smi. */
  env?: Record<string, string>;
  signal?: AbortSignal;
}

/** Options for {@linkcode detectGpus}. */
export interface DetectOptions extends NvidiaSmiOptions {
  /** `GPU_REQUIRED`: when false, a host without nvidia-smi or without GPUs becomes a CPU-only node. Default true. */
  required?: boolean;
  /** `CPU_ONLY_SLOTS`: how many pseudo GPUs a CPU-only node offers. Default 1. */
  cpuOnlySlots?: number;
  logger?: Logger;
}

/** One GPU's health, keyed by index and UUID. */
export interface GpuHealthReading {
  index: number;
  uuid: string;
  health: GpuHealth;
}

/** Pseudo GPU ids for CPU-only development mode: `cpu-0`, `cpu-1`, … */
export function cpuOnlyInventory(slots: number): GpuInventory {
  if (!Number.isInteger(slots) || slots < 1) {
    throw new RangeError(`CPU-only slots must be a positive integer: ${slots}`);
  }
  const gpus: GpuInfo[] = Array.from({ length: slots }, (_, i) => ({
    index: i,
    id: `cpu-${i}`,
    uuid: "",
    name: "CPU-only",
    memoryTotalMiB: 0,
    pciBusId: null,
    driverVersion: null,
    cudaVersion: null,
    health: null,
  }));
  return { mode: "cpu-only", driverVersion: null, cudaVersion: null, gpus };
}

/**
 * Detects every NVIDIA GPU and MIG instance. Throws {@linkcode GpuError} when nvidia-smi is missing, fails or hangs —
 * except that with `required: false` a missing binary or a GPU-less host yields {@linkcode cpuOnlyInventory}. A failing
 * health query does not fail detection: health is then `null` and `healthError` says why. A MIG GPU contributes one
 * unit per MIG instance; one whose instances cannot be listed contributes none (`unschedulable`), and only a host left
 * with no unit at all fails (`no_devices`).
 */
export async function detectGpus(options: DetectOptions = {}): Promise<GpuInventory> {
  const runner = runnerFor(options);
  const log = options.logger?.child({ component: "gpu" });
  let rows: z.output<typeof identityRow>[];
  try {
    rows = await query(runner, IDENTITY_ARGS, IDENTITY_FIELDS.length, 2, identityRow, options.signal);
    if (rows.length === 0) throw classifyFailure(0, "No devices were found", "");
  } catch (err) {
    const fallback = options.required === false && err instanceof GpuError &&
      (err.kind === "not_found" || err.kind === "no_devices");
    if (!fallback) throw err;
    const inventory = cpuOnlyInventory(options.cpuOnlySlots ?? 1);
    log?.warn("no NVIDIA GPU: running as a CPU-only development node", {
      reason: err.kind,
      slots: inventory.gpus.length,
    });
    return inventory;
  }

  const summary = await readSummary(runner, options.signal, log);
  const cudaVersion = summary === null ? null : parseCudaVersion(summary);
  if (summary !== null && cudaVersion === null) log?.warn("CUDA version not found in the nvidia-smi summary");
  let healthError: string | undefined;
  const health = new Map<string, GpuHealth>();
  try {
    for (const reading of await readGpuHealth({ ...options, runner })) health.set(reading.uuid, reading.health);
  } catch (err) {
    if (!(err instanceof GpuError) || err.kind === "timeout") throw err;
    healthError = err.message;
    log?.warn("GPU health readings unavailable", { error: err.message });
  }

  const driverVersion = rows.find((r) => r[4] !== null)?.[4] ?? null;
  const physical: GpuInfo[] = rows.map(([index, uuid, name, memoryTotalMiB, driver, pciBusId]) => ({
    index,
    id: uuid,
    uuid,
    name,
    memoryTotalMiB,
    pciBusId,
    driverVersion: driver,
    cudaVersion,
    health: health.get(uuid) ?? null,
  }));
  for (const gpu of physical) {
    for (const warning of gpu.health?.warnings ?? []) log?.warn(warning, { gpu: gpu.index, uuid: gpu.uuid });
  }

  // `-L` only where MIG may be on: a GPU reports it, or MIG mode is unknown because the health query failed.
  const listing = physical.some((g) => g.health?.migMode === "Enabled") || healthError !== undefined
    ? await listGpus(runner, options.signal, log)
    : undefined;
  const { gpus, unschedulable, approximate } = expandMig(
    physical,
    listing,
    summary === null ? new Map() : parseMigTable(summary),
  );
  for (const u of unschedulable) {
    log?.warn(`${describeUnschedulable(u)} takes no job: ${u.reason}`, {
      gpu: u.index,
      uuid: u.uuid,
      ...(u.id ? { id: u.id } : {}),
    });
  }
  if (approximate.length) {
    log?.info("MIG memory taken from the profile names (approximate): the summary table does not list the instances", {
      instances: approximate,
    });
  }
  if (gpus.length === 0) {
    throw new GpuError(
      "no_devices",
      `No GPU can take jobs: ${unschedulable.map((u) => `${describeUnschedulable(u)}: ${u.reason}`).join("; ")}`,
    );
  }
  return {
    mode: "nvidia",
    driverVersion,
    cudaVersion,
    gpus,
    ...(healthError ? { healthError } : {}),
    ...(unschedulable.length ? { unschedulable } : {}),
  };
}

/** Reads temperature, utilization, ECC counts, throttle reasons, power and MIG mode of every GPU. */
export async function readGpuHealth(options: NvidiaSmiOptions = {}): Promise<GpuHealthReading[]> {
  const rows = await query(runnerFor(options), HEALTH_ARGS, HEALTH_FIELDS.length, undefined, healthRow, options.signal);
  return rows.map(([index, uuid, temperatureC, utilizationPercent, corrected, uncorrected, mask, draw, limit, mig]) => {
    const reasons = decodeThrottle(mask);
    const warnings: string[] = [];
    if (uncorrected !== null && uncorrected > 0) {
      warnings.push(`GPU ${index} has ${uncorrected} uncorrected ECC error(s) since boot: drain it and reset the GPU`);
    }
    for (const r of ["hw_slowdown", "hw_thermal_slowdown", "sw_thermal_slowdown", "hw_power_brake_slowdown"] as const) {
      if (reasons.includes(r)) warnings.push(`GPU ${index} clocks are throttled (${r}): check cooling and power`);
    }
    return {
      index,
      uuid,
      health: {
        temperatureC,
        utilizationPercent,
        eccErrors: { correctedVolatile: corrected, uncorrectedVolatile: uncorrected },
        throttle: { mask, reasons },
        powerDrawW: draw,
        powerLimitW: limit,
        migMode: mig,
        warnings,
      },
    };
  });
}

function runnerFor(options: NvidiaSmiOptions): NvidiaSmiRunner {
  return options.runner ??
    new CommandNvidiaSmiRunner({ path: options.nvidiaSmiPath, timeoutMs: options.timeoutMs, env: options.env });
}

async function query<S extends z.ZodType<unknown, string[]>>(
  runner: NvidiaSmiRunner,
  args: readonly string[],
  width: number,
  textColumn: number | undefined,
  schema: S,
  signal?: AbortSignal,
): Promise<z.output<S>[]> {
  const out = await runner.run([...args], { signal });
  if (out.code !== 0) throw classifyFailure(out.code, out.stdout, out.stderr);
  // Some failures (no devices, NVML init) have been seen with exit code 0; the text is what counts.
  if (/NVIDIA-SMI has failed|Failed to initialize NVML|No devices were found/i.test(out.stdout)) {
    throw classifyFailure(out.code, out.stdout, out.stderr);
  }
  let rows: string[][];
  try {
    rows = parseCsvRows(out.stdout, width, textColumn);
  } catch (err) {
    throw new GpuError("invalid_output", `${(err as Error).message} (nvidia-smi ${args[0]})`, { cause: err });
  }
  return rows.map((row, i) => {
    const parsed = schema.safeParse(row);
    if (!parsed.success) {
      const why = parsed.error.issues.map((issue) => issue.message).join("; ");
      throw new GpuError("invalid_output", `Cannot parse nvidia-smi line ${i + 1}: ${why}`, { cause: parsed.error });
    }
    return parsed.data;
  });
}

async function readSummary(
  runner: NvidiaSmiRunner,
  signal: AbortSignal | undefined,
  log: Logger | undefined,
): Promise<string | null> {
  // The summary is informative only (CUDA version, exact MIG memory): a failure here must not cost the inventory.
  try {
    const out = await runner.run([...SUMMARY_ARGS], { signal });
    if (out.code === 0) return out.stdout;
    log?.warn("nvidia-smi summary unavailable: CUDA version unknown", { exitCode: out.code });
    return null;
  } catch (err) {
    if (err instanceof GpuError && err.kind === "timeout") throw err;
    signal?.throwIfAborted();
    log?.warn("CUDA version unavailable", { error: (err as Error).message });
    return null;
  }
}

async function listGpus(
  runner: NvidiaSmiRunner,
  signal: AbortSignal | undefined,
  log: Logger | undefined,
): Promise<GpuListing> {
  // A failure costs the MIG GPUs their instances, never the inventory; a hang fails detection, as for health.
  try {
    const out = await runner.run([...LIST_ARGS], { signal });
    if (out.code !== 0 || /NVIDIA-SMI has failed|Failed to initialize NVML|No devices were found/i.test(out.stdout)) {
      throw classifyFailure(out.code, out.stdout, out.stderr);
    }
    return { gpus: parseGpuList(out.stdout) };
  } catch (err) {
    if (err instanceof GpuError && err.kind === "timeout") throw err;
    signal?.throwIfAborted();
    const error = err instanceof SyntaxError ? `${err.message} (nvidia-smi -L)` : (err as Error).message;
    log?.warn("MIG instances cannot be listed", { error });
    return { error };
  }
}
