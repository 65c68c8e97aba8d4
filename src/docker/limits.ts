/** Operator limits every job container runs under, and how a job's own requests are capped by them. */
import type { Config } from "../config/mod.ts";

/** The operator's defaults and caps (from config). */
export interface JobLimits {
  memoryBytes: number;
  cpus: number;
  pidsLimit: number;
  shmSizeBytes: number;
  tmpfsSizeBytes: number;
  network: "none" | "bridge";
  /** Numeric `uid[:gid]`; undefined runs the image's own user. */
  user?: string;
  /** OCI runtime (e.g. `runsc`); undefined uses the daemon's default. */
  runtime?: string;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  stopGraceMs: number;
  /** Job output bytes copied into the agent's log. */
  logMaxBytes: number;
  /** Output tail kept per stream for the status message. */
  tailBytes: number;
  /** Docker's json-file log cap for the container. */
  containerLogBytes: number;
}

/** Conservative limits for tests and tools; the agent uses {@linkcode jobLimitsFromConfig}. */
export const DEFAULT_JOB_LIMITS: JobLimits = {
  memoryBytes: 16 * 1024 ** 3,
  cpus: 4,
  pidsLimit: 4096,
  shmSizeBytes: 2 * 1024 ** 3,
  tmpfsSizeBytes: 1024 ** 3,
  network: "none",
  defaultTimeoutMs: 3_600_000,
  maxTimeoutMs: 86_400_000,
  stopGraceMs: 10_000,
  logMaxBytes: 1024 * 1024,
  tailBytes: 2048,
  containerLogBytes: 100 * 1024 * 1024,
};

/** Picks the job limits out of the agent's config. */
export function jobLimitsFromConfig(config: Config): JobLimits {
  return {
    memoryBytes: config.jobMemoryLimit,
    cpus: config.jobCpuLimit,
    pidsLimit: config.jobPidsLimit,
    shmSizeBytes: config.jobShmSize,
    tmpfsSizeBytes: config.jobTmpfsSize,
    network: config.jobNetwork,
    user: config.jobUser,
    runtime: config.dockerRuntime,
    defaultTimeoutMs: config.jobTimeout,
    maxTimeoutMs: config.jobTimeoutMax,
    stopGraceMs: config.jobStopGrace,
    logMaxBytes: config.jobLogMaxBytes,
    tailBytes: config.jobLogTailBytes,
    containerLogBytes: config.jobContainerLogSize,
  };
}

/** What one job asks for; each value is capped by the limits. */
export interface JobRequests {
  memoryMb?: number;
  cpus?: number;
  timeoutSeconds?: number;
}

/** The effective values for one job: the job's request when given, never above the operator's cap. */
export interface EffectiveLimits {
  memoryBytes: number;
  nanoCpus: number;
  timeoutMs: number;
}

/** Caps a job's requests by the operator's limits. */
export function effectiveLimits(limits: JobLimits, requests: JobRequests = {}): EffectiveLimits {
  const memory = requests.memoryMb !== undefined
    ? Math.min(Math.max(requests.memoryMb, 6) * 1024 * 1024, limits.memoryBytes)
    : limits.memoryBytes;
  const cpus = requests.cpus !== undefined ? Math.min(requests.cpus, limits.cpus) : limits.cpus;
  const timeoutMs = requests.timeoutSeconds !== undefined
    ? Math.min(requests.timeoutSeconds * 1000, limits.maxTimeoutMs)
    : Math.min(limits.defaultTimeoutMs, limits.maxTimeoutMs);
  return { memoryBytes: Math.floor(memory), nanoCpus: Math.max(1, Math.round(cpus * 1e9)), timeoutMs };
}
