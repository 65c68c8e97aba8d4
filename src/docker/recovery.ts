/** Crash recovery: list this agent's labelled containers, re-attach to one job's container, remove orphans. */
import { timeoutSignal } from "../timers.ts";
import type { Logger } from "../log/mod.ts";
import type { DockerClient } from "./client.ts";
import { LABELS } from "./container_spec.ts";
import type { JobLimits } from "./limits.ts";
import type { LogStream } from "./log_demux.ts";
import type { ContainerOutcome } from "./outcome.ts";
import { removeContainer, superviseContainer } from "./supervise.ts";

/** One of this agent's job containers. */
export interface JobContainer {
  id: string;
  name: string;
  jobId: string;
  attempt: number;
  /** Docker's state: created, running, exited, … */
  state: string;
  /** Seconds since epoch. */
  created: number;
  /** The time limit recorded at create, when present. */
  timeoutMs?: number;
}

interface Summary {
  Id: string;
  Names?: string[];
  Labels?: Record<string, string>;
  State: string;
  Created: number;
}

/** Lists containers labelled as this agent's (`lamda.agent=<address>`); unlabelled containers never appear. */
export async function listJobContainers(docker: DockerClient, agentAddress: string): Promise<JobContainer[]> {
  const filters = JSON.stringify({ label: [`${LABELS.agent}=${agentAddress}`] });
  const list = await docker.json<Summary[]>("GET", "/containers/json", {
    query: { all: true, filters },
    signal: timeoutSignal(30_000),
  });
  return list
    // The daemon filtered already; checking again keeps a mis-parsed filter from ever touching a foreign container.
    .filter((c) => c.Labels?.[LABELS.agent] === agentAddress && c.Labels?.[LABELS.jobId])
    .map((c) => {
      const timeout = Number(c.Labels?.[LABELS.timeoutMs]);
      return {
        id: c.Id,
        name: (c.Names?.[0] ?? "").replace(/^\//, ""),
        jobId: c.Labels![LABELS.jobId],
        attempt: Number(c.Labels?.[LABELS.attempt] ?? 0),
        state: c.State,
        created: c.Created,
        timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : undefined,
      };
    });
}

/** Removes this agent's containers whose job id is not in `known`; returns the removed names. */
export async function removeOrphans(
  docker: DockerClient,
  agentAddress: string,
  known: Set<string>,
  logger?: Logger,
): Promise<string[]> {
  const removed: string[] = [];
  for (const c of await listJobContainers(docker, agentAddress)) {
    if (known.has(c.jobId)) continue;
    logger?.warn("removing orphaned job container", { container: c.name, job_id: c.jobId, state: c.state });
    await removeContainer(docker, c.id, logger);
    removed.push(c.name);
  }
  return removed;
}

/** Options of {@linkcode resumeJob}. */
export interface ResumeOptions {
  limits: JobLimits;
  logger: Logger;
  onLine?: (stream: LogStream, line: string) => void;
  signal?: AbortSignal;
}

/** Re-attaches to the latest attempt of `jobId` and drives it to its end; see `DockerEngine.resume`. */
export async function resumeJob(
  docker: DockerClient,
  agentAddress: string,
  jobId: string,
  options: ResumeOptions,
): Promise<ContainerOutcome | undefined> {
  const mine = (await listJobContainers(docker, agentAddress)).filter((c) => c.jobId === jobId);
  if (mine.length === 0) return undefined;
  mine.sort((a, b) => b.attempt - a.attempt);
  const [latest, ...older] = mine;
  for (const c of older) await removeContainer(docker, c.id, options.logger);
  if (latest.state === "created") {
    // Never started: nothing ran, so the caller may run the attempt afresh.
    await removeContainer(docker, latest.id, options.logger);
    return undefined;
  }
  const info = await docker.json<{ State: { StartedAt?: string } }>("GET", `/containers/${latest.id}/json`);
  const startedAt = Date.parse(info.State.StartedAt ?? "") || latest.created * 1000;
  options.logger.info("re-attaching to job container", { container: latest.name, state: latest.state });
  const outcome = await superviseContainer(docker, latest.id, {
    timeoutMs: latest.timeoutMs ?? options.limits.defaultTimeoutMs,
    startedAt,
    stopGraceMs: options.limits.stopGraceMs,
    start: false,
    logTailLines: 200,
    logMaxBytes: options.limits.logMaxBytes,
    tailBytes: options.limits.tailBytes,
    logger: options.logger,
    onLine: options.onLine,
    signal: options.signal,
  });
  outcome.containerName = latest.name;
  return outcome;
}
