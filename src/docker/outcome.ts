/** The one place a container's end is turned into a job outcome and a reason code (docs/wire-contract.md §5). */
import { type FailureReason, isDiskFull } from "../reasons.ts";
import { DockerError } from "./client.ts";
import {
  CudaUnsupportedError,
  DiskSpaceError,
  GpuUnavailableError,
  ImagePolicyError,
  ImagePullError,
} from "./errors.ts";
import { InvalidJobSpecError } from "./rules.ts";
import { dockerStatusMessage, type StatusMessageOptions } from "./status_message.ts";

/** Reason codes a container run can end with (a subset of the one vocabulary in src/reasons.ts). */
export type ContainerFailureReason = Extract<
  FailureReason,
  | "nonzero_exit"
  | "oom"
  | "timeout"
  | "cancelled"
  | "agent_shutdown"
  | "gpu_unavailable"
  | "image_pull_failed"
  | "invalid_job"
  | "rejected"
  | "disk_full"
  | "cuda_unsupported"
  | "internal_error"
>;

/** Output kept from a run. */
export interface OutputSummary {
  stdoutTail: string;
  stderrTail: string;
  stdoutBytes: number;
  stderrBytes: number;
}

/** How one container run ended. */
export type ContainerOutcome =
  & ({ ok: true; exitCode: 0 } | { ok: false; reason: ContainerFailureReason; message: string; exitCode?: number })
  & {
    containerName?: string;
    durationMs?: number;
    output?: OutputSummary;
    /** With `deferRemove`: settles once the container is removed (it never rejects). */
    removed?: Promise<void>;
    /**
     * The daemon's refusal of the create or the start itself (the container never ran), for the engine's own checks
     * (a network sandbox that could not be joined).
     */
    startError?: unknown;
  };

/** What is known when a run ends; exactly the inputs of {@linkcode classifyOutcome}. */
export interface EndFacts {
  /** `State.ExitCode` when the container ran. */
  exitCode?: number;
  /** `State.OOMKilled`. */
  oomKilled?: boolean;
  /** The agent stopped it because the job's time was up. */
  timedOut?: boolean;
  timeoutMs?: number;
  /** The agent stopped it because the job was cancelled or the agent is shutting down. */
  aborted?: "cancelled" | "agent_shutdown";
  /** An error from the daemon or from the checks before it. */
  error?: unknown;
  /** Paths the error's message may name (the job's `output_path` and command); other absolute paths are hidden. */
  statusPaths?: StatusMessageOptions;
  output?: OutputSummary;
}

const GPU_ERROR = /could not select device driver|nvidia-container|unknown or invalid runtime name: nvidia/i;
/**
 * libnvidia-container's refusal of an image requirement the driver does not meet, as Docker relays it from the hook
 * (`nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, please update your driver …`): what
 * the agent's own check lets through because it cannot see the GPU's brand (docs/gpu.md, CUDA compatibility).
 */
const CUDA_REQUIREMENT_ERROR = /requirement error: unsatisfied condition/i;

/** Whether a daemon error means the daemon cannot hand out GPUs. */
export function isGpuError(error: unknown): boolean {
  return error instanceof GpuUnavailableError || (error instanceof DockerError && GPU_ERROR.test(error.message));
}

/** Maps the facts of a run's end to one outcome. Order matters: an abort or timeout wins over the exit code it caused. */
export function classifyOutcome(facts: EndFacts): ContainerOutcome {
  const output = facts.output;
  const tail = output ? (output.stderrTail || output.stdoutTail) : "";
  const withTail = (msg: string) => (tail ? `${msg}; output tail:\n${tail}` : msg);
  if (facts.aborted) {
    const msg = facts.aborted === "cancelled" ? "job cancelled while running" : "agent shut down while the job ran";
    return { ok: false, reason: facts.aborted, message: msg, exitCode: facts.exitCode, output };
  }
  if (facts.timedOut) {
    const secs = facts.timeoutMs !== undefined ? ` of ${Math.round(facts.timeoutMs / 1000)} s` : "";
    return { ok: false, reason: "timeout", message: withTail(`job exceeded its time limit${secs}`), output };
  }
  if (facts.error !== undefined) return { ...classifyError(facts.error, facts.statusPaths), output };
  if (facts.oomKilled) {
    return {
      ok: false,
      reason: "oom",
      message: withTail("job ran out of memory (killed by the kernel OOM killer)"),
      exitCode: facts.exitCode,
      output,
    };
  }
  if (facts.exitCode === 0) return { ok: true, exitCode: 0, output };
  if (facts.exitCode === undefined) {
    return { ok: false, reason: "internal_error", message: "container ended without an exit code", output };
  }
  const hint = facts.exitCode === 137 ? " (killed by SIGKILL)" : "";
  return {
    ok: false,
    reason: "nonzero_exit",
    message: withTail(`job exited with code ${facts.exitCode}${hint}`),
    exitCode: facts.exitCode,
    output,
  };
}

/** Maps an error thrown while preparing or running a container to a reason code and a message. */
export function classifyError(
  error: unknown,
  options: StatusMessageOptions = {},
): { ok: false; reason: ContainerFailureReason; message: string; exitCode?: number } {
  const own = error instanceof Error ? error.message : String(error);
  // These name the job's own values (its output_path, its image): shown as they are.
  if (error instanceof InvalidJobSpecError) return { ok: false, reason: "invalid_job", message: own };
  if (error instanceof ImagePolicyError) return { ok: false, reason: "rejected", message: own };
  if (error instanceof DiskSpaceError) return { ok: false, reason: "disk_full", message: own };
  if (error instanceof CudaUnsupportedError) return { ok: false, reason: "cuda_unsupported", message: own };
  // Everything else carries the daemon's (or the node's) words, which name host paths: statuses never show those.
  const message = dockerStatusMessage(error, options);
  if (error instanceof ImagePullError) return { ok: false, reason: "image_pull_failed", message };
  if (error instanceof GpuUnavailableError) return { ok: false, reason: "gpu_unavailable", message };
  if (error instanceof DockerError && CUDA_REQUIREMENT_ERROR.test(error.message)) {
    return {
      ok: false,
      reason: "cuda_unsupported",
      message: `NVIDIA's container hook refused the image: the node's driver does not meet its requirement ` +
        `(use an image built for the driver's CUDA version, or update the NVIDIA driver): ${message}`,
    };
  }
  if (isGpuError(error)) {
    return { ok: false, reason: "gpu_unavailable", message: new GpuUnavailableError(message).message };
  }
  if (error instanceof DockerError) {
    // Like `docker run`: a command that cannot be found or executed is the job's failure, exit 127/126.
    if (/executable file not found|no such file or directory/i.test(message) && /exec|start/i.test(message)) {
      return {
        ok: false,
        reason: "nonzero_exit",
        message: `job command could not be started: ${message}`,
        exitCode: 127,
      };
    }
    if (/permission denied/i.test(message) && /exec/i.test(message)) {
      return {
        ok: false,
        reason: "nonzero_exit",
        message: `job command could not be started: ${message}`,
        exitCode: 126,
      };
    }
    if (error.status === 404 && /image/i.test(message)) return { ok: false, reason: "image_pull_failed", message };
  }
  if (isDiskFull(error)) return { ok: false, reason: "disk_full", message: `the node's disk is full: ${message}` };
  // A duplicate create, an unreachable or failing daemon: not the job's fault, no better code in §5.
  return { ok: false, reason: "internal_error", message };
}
