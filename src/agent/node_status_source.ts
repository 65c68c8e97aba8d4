/** Builds the {@linkcode NodeStatus} document from the running agent's parts (each read when asked, never cached). */
import { formatEther } from "ethers";
import type { HeartbeatState } from "../chain/mod.ts";
import { heartbeatsPaid } from "../chain/mod.ts";
import type { GpuHealthReading, GpuInfo, UnitHealth } from "../gpu/mod.ts";
import { type ActiveJob, isTerminal, type JobRecord } from "../job/mod.ts";
import { VERSION } from "../version.ts";
import type { Readiness } from "./http.ts";
import type { AgentPhase, NodeStatus } from "./node_status.ts";

/** What the document is made of: getters into the agent's components. */
export interface NodeStatusParts {
  startedAt: Date;
  phase(): AgentPhase;
  address: string;
  chainId: number | null;
  registered: boolean;
  heartbeat(): HeartbeatState;
  nats(): { connected: boolean; servers: string; intake: string };
  slots(): { maxConcurrent: number; running: number; queued: number; free: number };
  gpus: GpuInfo[];
  /** The latest health reading per physical GPU. */
  readings(): GpuHealthReading[];
  /** Health per schedulable unit, when watched. */
  units(): UnitHealth[] | undefined;
  activeJobs(): ActiveJob[];
  /** A job's journal record (for when it was received). */
  record(jobId: string): JobRecord | undefined;
  /** The most recent jobs, newest first. */
  recent(limit: number): JobRecord[];
  readiness(): Readiness;
  now?: () => number;
}

const iso = (ms: number | undefined | null) => (ms === undefined || ms === null ? null : new Date(ms).toISOString());

/** The document while start-up runs: what is known before the node key, the chain and NATS are. */
export function startingStatus(startedAt: Date, readiness: Readiness, detail: string): NodeStatus {
  return {
    version: VERSION,
    generated_at: new Date().toISOString(),
    started_at: startedAt.toISOString(),
    phase: "starting",
    phase_detail: detail,
    node: {
      address: null,
      chain_id: null,
      registered: false,
      last_heartbeat_at: null,
      heartbeat_age_s: null,
      heartbeats_sent: 0,
      heartbeat_failures: 0,
      balance_wei: null,
      balance_bnb: null,
      heartbeats_left: null,
    },
    nats: { connected: false, servers: "", intake: "" },
    slots: { max_concurrent: 0, running: 0, queued: 0, free: 0 },
    gpus: [],
    jobs: { active: [], recent: [] },
    readiness,
  };
}

/** The document now. */
export function collectNodeStatus(p: NodeStatusParts): NodeStatus {
  const now = p.now?.() ?? Date.now();
  const hb = p.heartbeat();
  const last = hb.lastHeartbeatAt?.getTime();
  const active = p.activeJobs();
  const holder = new Map(active.flatMap((j) => j.gpus.map((g) => [g, j.jobId] as const)));
  const readings = new Map(p.readings().map((r) => [r.uuid, r.health]));
  const units = p.units();
  const unitOf = new Map((units ?? []).map((u) => [u.id, u]));
  const slots = p.slots();
  const nats = p.nats();
  return {
    version: VERSION,
    generated_at: new Date(now).toISOString(),
    started_at: p.startedAt.toISOString(),
    phase: p.phase(),
    phase_detail: null,
    node: {
      address: p.address,
      chain_id: p.chainId,
      registered: p.registered,
      last_heartbeat_at: iso(last),
      heartbeat_age_s: last === undefined ? null : Math.max(0, Math.round((now - last) / 1000)),
      heartbeats_sent: hb.txCount,
      heartbeat_failures: hb.failures,
      balance_wei: hb.balance === undefined ? null : hb.balance.toString(),
      balance_bnb: hb.balance === undefined ? null : formatEther(hb.balance),
      heartbeats_left: hb.balance === undefined || !hb.heartbeatCost
        ? null
        : Number(heartbeatsPaid(hb.balance, hb.heartbeatCost)),
    },
    nats,
    slots: { max_concurrent: slots.maxConcurrent, running: slots.running, queued: slots.queued, free: slots.free },
    gpus: p.gpus.map((g) => {
      const health = readings.get(g.uuid) ?? g.health;
      const unit = unitOf.get(g.id);
      return {
        id: g.id,
        index: g.uuid ? g.index : null,
        name: g.name,
        memory_mib: g.memoryTotalMiB || null,
        healthy: units ? (unit?.healthy ?? null) : null,
        conditions: unit?.conditions.map((c) => c.code) ?? [],
        temperature_c: health?.temperatureC ?? null,
        utilization_pct: health?.utilizationPercent ?? null,
        job_id: holder.get(g.id) ?? null,
      };
    }),
    jobs: {
      active: active.map((j) => ({
        job_id: j.jobId,
        attempt: j.attempt,
        image: j.image,
        stage: j.stage,
        received_at: iso(p.record(j.jobId)?.receivedAt) ?? new Date(now).toISOString(),
        started_at: iso(j.startedAt),
        gpus: j.gpus,
        progress: Object.fromEntries(
          Object.entries(j.transfers).map((
            [stage, t],
          ) => [stage, { done_bytes: t.bytes, total_bytes: t.total ?? null }]),
        ),
      })),
      recent: p.recent(50).filter((r) => isTerminal(r.state)).map((r) => ({
        job_id: r.jobId,
        state: r.state,
        reason: r.reason ?? null,
        received_at: iso(r.receivedAt)!,
        finished_at: iso(r.finishedAt),
        duration_s: r.finishedAt === undefined ? null : Math.max(0, (r.finishedAt - r.receivedAt) / 1000),
        output_cid: r.outputCid ?? null,
      })),
    },
    readiness: p.readiness(),
  };
}
