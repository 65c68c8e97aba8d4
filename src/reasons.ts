/**
 * The failure reason codes of `failed` statuses (docs/wire-contract.md §5): one vocabulary for every component. It
 * sits at the bottom of the import graph so the Docker and storage components name their reasons from it, and the job
 * runner publishes them unchanged.
 */

/** Every reason code, in the wire contract's order, plus `internal_error` for a node-side fault with no better code. */
export const FAILURE_REASONS = [
  "invalid_job",
  "rejected",
  "image_pull_failed",
  "input_fetch_failed",
  "input_integrity_failed",
  "gpu_unavailable",
  "timeout",
  "oom",
  "nonzero_exit",
  "output_too_large",
  "upload_failed",
  "cancelled",
  "agent_shutdown",
  "agent_restart",
  "disk_full",
  "cuda_unsupported",
  "gpu_unhealthy",
  "internal_error",
] as const;

/** One of {@linkcode FAILURE_REASONS}. */
export type FailureReason = typeof FAILURE_REASONS[number];

/** Whether `value` is a reason code. */
export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === "string" && (FAILURE_REASONS as readonly string[]).includes(value);
}

/** Whether an error says the disk is full (ENOSPC from the OS, SQLITE_FULL from the journal). */
export function isDiskFull(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "ERR_SQLITE_FULL") return true;
    if (/No space left on device|os error 28|database or disk is full|SQLITE_FULL/i.test(e.message)) return true;
  }
  return false;
}
