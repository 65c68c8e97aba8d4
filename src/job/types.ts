/** The job model shared by intake, journal, scheduler and the executor the agent implements. */
import type { StepTimes } from "../timing.ts";

/** Journal states of a job, in pipeline order; `completed` and `failed` are terminal. */
export const JOB_STATES = [
  "received",
  "validated",
  "fetching_input",
  "pulling_image",
  "running",
  "uploading",
  "completed",
  "failed",
] as const;
/** One of {@linkcode JOB_STATES}. */
export type JobState = typeof JOB_STATES[number];

/** The stages an executor reports through `progress()`. */
export type JobStage = "fetching_input" | "pulling_image" | "running" | "uploading";

/** The stages that move bytes, whose progress an executor reports through `transfer()`. */
export type TransferStage = Exclude<JobStage, "running">;

/** One progress report of a stage's transfer. */
export interface TransferReport {
  bytes: number;
  total?: number;
  bytesPerSecond: number;
  /** The last report of this transfer. */
  done: boolean;
}

/** Whether a state is terminal. */
export function isTerminal(state: JobState): state is "completed" | "failed" {
  return state === "completed" || state === "failed";
}

export { FAILURE_REASONS, type FailureReason, isFailureReason } from "../reasons.ts";
import type { FailureReason } from "../reasons.ts";

/** The status vocabulary on the wire: the seed's three values. */
export type WireStatus = "processing" | "completed" | "failed";

/** Optional resource requests of a job. */
export interface JobResources {
  memoryMb?: number;
  cpus?: number;
}

/** A validated job, field names normalized (snake_case and camelCase messages give the same value). */
export interface Job {
  jobId: string;
  imageName: string;
  inputFileCid?: string;
  /** Absolute path inside the container; `/output` when the message had none. */
  outputPath: string;
  command?: string[];
  env?: Record<string, string>;
  /** GPUs requested; undefined means the default (one, when the host has any). */
  gpus?: number;
  timeoutSeconds?: number;
  resources?: JobResources;
  /** The signature as sent, when present. */
  signature?: string;
  /** The verified signer address (EIP-55), when `JOB_SIGNERS` is enforced. */
  signer?: string;
}

/** What an executor hands back when a job ends. */
export type JobOutcome =
  | { status: "completed"; outputCid: string; exitCode: number; extra?: Record<string, unknown> }
  | { status: "failed"; reason: FailureReason; message: string; exitCode?: number; extra?: Record<string, unknown> };

/** What an executor gets for one attempt of one job. */
export interface ExecutionContext {
  /** 1 for the first attempt; higher after a restart re-ran the job. */
  attempt: number;
  /** GPU UUIDs (or CPU-mode pseudo ids) reserved for this job. */
  gpuUuids: string[];
  /** Aborted on cancel or shutdown; `signal.reason` is a {@linkcode JobAbort}. */
  signal: AbortSignal;
  /**
   * Records the stage in the journal; call it (and await it) before the stage's side effect. Stages entered together
   * (the input fetch and the image pull) go in one call: one journal write, one status each, the job in the last.
   */
  progress(stage: JobStage, ...also: JobStage[]): Promise<void>;
  /**
   * Progress of a stage's transfer (input download, image pull, output upload), as often as the executor likes: the
   * runner publishes it at a bounded rate (a `processing` status with `progress`) and shows it on the status page.
   */
  transfer?(stage: TransferStage, report: TransferReport): void;
  /**
   * Set when an earlier process left this attempt unfinished past the point of no return (see resume.ts): finish it —
   * re-attach to its container, or upload the output it left — instead of starting it again.
   */
  resume?: "reattach" | "upload";
  /** Where the attempt's time goes, step by step (the `Job finished` log line's `timing`). */
  times?: StepTimes;
}

/** Runs one job (Docker + IPFS in the agent; small fakes in tests). */
export interface JobExecutor {
  execute(job: Job, ctx: ExecutionContext): Promise<JobOutcome>;
  /** Called once a job's terminal status is journaled: drop what it kept for a retry (its spooled output). */
  cleanup?(jobId: string): Promise<void>;
}

/** Why a running job's signal was aborted. */
export class JobAbort extends Error {
  readonly reason: "cancelled" | "agent_shutdown" | "gpu_unhealthy";
  constructor(reason: "cancelled" | "agent_shutdown" | "gpu_unhealthy", message: string) {
    super(message);
    this.name = "JobAbort";
    this.reason = reason;
  }
}
