/**
 * What the node is doing, in one JSON document: `GET /status.json`, and the data behind the status page (`GET /`).
 * Field names are snake_case like the bus messages; times are ISO strings; absent facts are `null`, never omitted.
 */
import type { Readiness } from "./http.ts";

/** Where the agent is in its life. */
export type AgentPhase = "starting" | "serving" | "draining" | "stopping";

/** One GPU (or MIG instance) the agent schedules on. */
export interface GpuStatus {
  /** The schedulable id: a GPU UUID or a MIG instance UUID. */
  id: string;
  index: number | null;
  name: string;
  memory_mib: number | null;
  /** False when drained as unhealthy; null when health is not watched. */
  healthy: boolean | null;
  /** Condition codes of the last health reading (`xid_fatal`, `hot`, …). */
  conditions: string[];
  temperature_c: number | null;
  utilization_pct: number | null;
  /** The job holding it now. */
  job_id: string | null;
}

/** A transfer's progress: bytes done and, when known, in all. */
export interface TransferStatus {
  done_bytes: number;
  total_bytes: number | null;
}

/** A job queued or running on this node. */
export interface ActiveJobStatus {
  job_id: string;
  attempt: number;
  image: string;
  /** The journal's state: `validated` while queued, then `fetching_input` … `uploading`. */
  stage: string;
  received_at: string;
  started_at: string | null;
  gpus: string[];
  /** Transfers in progress, by stage (`fetching_input`, `pulling_image`, `uploading`). */
  progress: Record<string, TransferStatus>;
}

/** A job this node finished (or refused), from the journal. */
export interface RecentJobStatus {
  job_id: string;
  state: string;
  reason: string | null;
  received_at: string;
  finished_at: string | null;
  /** From receipt to the terminal status. */
  duration_s: number | null;
  output_cid: string | null;
}

/** The whole document. */
export interface NodeStatus {
  version: string;
  generated_at: string;
  started_at: string;
  phase: AgentPhase;
  /** What start-up waits on, while `phase` is `starting`. */
  phase_detail: string | null;
  node: {
    address: string | null;
    chain_id: number | null;
    registered: boolean;
    last_heartbeat_at: string | null;
    heartbeat_age_s: number | null;
    heartbeats_sent: number;
    heartbeat_failures: number;
    balance_wei: string | null;
    /** The balance in BNB, as a decimal string. */
    balance_bnb: string | null;
    heartbeats_left: number | null;
  };
  nats: { connected: boolean; servers: string; intake: string };
  slots: { max_concurrent: number; running: number; queued: number; free: number };
  gpus: GpuStatus[];
  jobs: { active: ActiveJobStatus[]; recent: RecentJobStatus[] };
  readiness: Readiness;
}
