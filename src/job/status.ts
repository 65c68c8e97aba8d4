/** The status message of docs/wire-contract.md §5: the five seed fields always, plus reason, message, exit code, attempt, timings. */
import type { FailureReason, JobState, WireStatus } from "./types.ts";

/** Timings attached to a status (ISO strings and milliseconds). */
export interface StatusTimings {
  received_at?: string;
  started_at?: string;
  finished_at?: string;
  queued_ms?: number;
  run_ms?: number;
}

/** A status message as published. */
export interface StatusMessage<S extends WireStatus = WireStatus> {
  agent_address: string;
  job_id: string;
  status: S;
  output_cid: string;
  timestamp: string;
  attempt: number;
  stage?: JobState;
  reason?: FailureReason;
  message?: string;
  exit_code?: number;
  timings?: StatusTimings;
  [extra: string]: unknown;
}

/** Input of {@linkcode buildStatus}. */
export interface StatusInput<S extends WireStatus = WireStatus> {
  agentAddress: string;
  jobId: string;
  status: S;
  attempt: number;
  outputCid?: string;
  stage?: JobState;
  reason?: FailureReason;
  message?: string;
  exitCode?: number;
  timings?: StatusTimings;
  extra?: Record<string, unknown>;
  now?: Date;
}

const SEED_AND_OWN = new Set([
  "agent_address",
  "job_id",
  "status",
  "output_cid",
  "timestamp",
  "attempt",
  "stage",
  "reason",
  "message",
  "exit_code",
  "timings",
]);

/** Builds a status message; executor `extra` fields are added but never replace the contract's fields. */
export function buildStatus<S extends WireStatus>(input: StatusInput<S>): StatusMessage<S> {
  const msg: StatusMessage<S> = {
    agent_address: input.agentAddress,
    job_id: input.jobId,
    status: input.status,
    output_cid: input.outputCid ?? "",
    timestamp: (input.now ?? new Date()).toISOString(),
    attempt: input.attempt,
  };
  if (input.stage !== undefined) msg.stage = input.stage;
  if (input.reason !== undefined) msg.reason = input.reason;
  if (input.message !== undefined) msg.message = input.message.slice(0, 2000);
  if (input.exitCode !== undefined) msg.exit_code = input.exitCode;
  if (input.timings !== undefined) msg.timings = input.timings;
  for (const [k, v] of Object.entries(input.extra ?? {})) if (!SEED_AND_OWN.has(k)) msg[k] = v;
  return msg;
}

/**
 * The JetStream dedupe id of a status: `<job_id>:<attempt>:<status>`, and `<job_id>:<attempt>:processing:<stage>` for
 * the status that opens a stage after acceptance (each stage's status is a status of its own, published once).
 */
export function statusMsgId(jobId: string, attempt: number, status: WireStatus, stage?: string): string {
  const opens = status === "processing" && stage !== undefined && stage !== "validated";
  return opens ? `${jobId}:${attempt}:processing:${stage}` : `${jobId}:${attempt}:${status}`;
}

/** The dedupe id of a transfer-progress status: its stage's id and the bytes moved, `…:processing:<stage>:<bytes>`. */
export function progressMsgId(jobId: string, attempt: number, stage: string, bytes: number): string {
  return `${statusMsgId(jobId, attempt, "processing", stage)}:${bytes}`;
}

/** A status's timings from its journal record: received, started and finished (now), and the queued and run spans. */
export function jobTimings(
  rec: { receivedAt: number; startedAt?: number } | undefined,
  now = Date.now(),
): StatusTimings {
  const iso = (ms?: number) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const started = rec?.startedAt;
  return {
    received_at: iso(rec?.receivedAt),
    started_at: iso(started),
    finished_at: iso(now),
    queued_ms: started !== undefined && rec ? started - rec.receivedAt : undefined,
    run_ms: started !== undefined ? now - started : undefined,
  };
}
