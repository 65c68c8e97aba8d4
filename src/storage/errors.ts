/** The storage component's error: one wire reason code (docs/wire-contract.md §5) and a finer detail code. */

import type { FailureReason } from "../reasons.ts";

/** Reason codes the storage component can produce, as published on `failed` statuses. */
export type StorageReason = Extract<
  FailureReason,
  "input_fetch_failed" | "input_integrity_failed" | "output_too_large" | "upload_failed" | "disk_full"
>;

/** Finer classification kept for logs, tests and retry decisions. */
export type StorageDetail =
  | "network" // connection failed, reset, HTTP 5xx/429, timeouts
  | "http_status" // an HTTP answer that retrying will not change (4xx)
  | "unauthorized" // Pinata refused the JWT
  | "hash_mismatch" // a block's bytes do not hash to its CID
  | "bad_car" // the CAR stream is malformed or truncated
  | "wrong_root" // the CAR names a different root than requested
  | "missing_block" // the CAR ended without a block the DAG needs
  | "unsupported" // a codec, hash or UnixFS type the agent does not accept
  | "too_large" // a byte, block or entry limit was exceeded
  | "unsafe_name" // a directory entry name that could escape the job directory
  | "symlink" // the output holds a symlink or special file
  | "cid_mismatch" // the service returned another CID than computed locally
  | "aborted"; // the caller cancelled

/** A storage failure; `reason` is the job's status reason, `detail` says what happened. */
export class StorageError extends Error {
  override name = "StorageError";
  /** The wire reason code. */
  readonly reason: StorageReason;
  /** Finer classification. */
  readonly detail: StorageDetail;
  /** Whether trying again (later, or elsewhere) may succeed. */
  readonly retryable: boolean;

  constructor(
    reason: StorageReason,
    detail: StorageDetail,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.detail = detail;
    this.retryable = options.retryable ?? (detail === "network");
  }
}

/** An integrity failure of input data (hash mismatch, malformed CAR, wrong root, missing block). */
export function integrityError(detail: StorageDetail, message: string, cause?: unknown): StorageError {
  return new StorageError("input_integrity_failed", detail, message, { cause, retryable: false });
}

/** Returns `error` if it is a {@linkcode StorageError}, else wraps it with `reason` and detail `network`. */
export function asStorageError(error: unknown, reason: StorageReason, what: string): StorageError {
  if (error instanceof StorageError) return error;
  if (error instanceof DOMException && (error.name === "AbortError" || error.name === "TimeoutError")) {
    return new StorageError(reason, "network", `${what}: ${error.message}`, { cause: error, retryable: true });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new StorageError(reason, "network", `${what}: ${message}`, { cause: error, retryable: true });
}
