/**
 * The job runner's logic with small fakes (an in-memory journal, a recording sink, a scripted executor): dedupe,
 * admission, recovery of each journal state, cancel at each stage, drain, and a full disk.
 */
import assert from "node:assert/strict";
import { Logger, MemoryWriter } from "../log/mod.ts";
import { sleep } from "../timers.ts";
import {
  buildStatus,
  type Delivery,
  type ExecutionContext,
  type Job,
  JobJournal,
  JobRunner,
  type JobRunnerOptions,
  type JobState,
  type OutboxEntry,
  Scheduler,
  type StatusMessage,
  type StatusSink,
} from "./mod.ts";

const AGENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
const CHECKS = { imageReference: () => {}, outputPath: (p: string) => p, env: (e: Record<string, string>) => e };

/** Records every published status; `connected` can be switched off. */
class RecordingSink implements StatusSink {
  readonly sent: StatusMessage[] = [];
  connected = true;
  #listeners = new Set<() => void>();
  publish(entry: OutboxEntry): Promise<void> {
    if (!this.connected) return Promise.reject(new Error("disconnected"));
    this.sent.push(entry.payload);
    return Promise.resolve();
  }
  onReconnect(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  of(jobId: string): StatusMessage[] {
    return this.sent.filter((s) => s.job_id === jobId);
  }
  final(jobId: string): StatusMessage | undefined {
    return this.of(jobId).find((s) => s.status !== "processing");
  }
}

/** An executor whose jobs run until released (or aborted); it records what it was asked. */
class ScriptedExecutor {
  readonly calls: { job: Job; ctx: ExecutionContext }[] = [];
  readonly cleaned: string[] = [];
  concurrent = 0;
  maxConcurrent = 0;
  #release = new Map<string, () => void>();
  /** Jobs that reach `uploading` before they wait. */
  uploading = new Set<string>();

  async execute(job: Job, ctx: ExecutionContext) {
    this.calls.push({ job, ctx });
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    try {
      await ctx.progress("running");
      if (this.uploading.has(job.jobId)) await ctx.progress("uploading");
      await new Promise<void>((resolve, reject) => {
        this.#release.set(job.jobId, resolve);
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
      });
      return { status: "completed" as const, outputCid: CID, exitCode: 0 };
    } catch {
      return { status: "failed" as const, reason: "internal_error" as const, message: "stopped" };
    } finally {
      this.concurrent--;
    }
  }
  cleanup(jobId: string): Promise<void> {
    this.cleaned.push(jobId);
    return Promise.resolve();
  }
  release(jobId: string): void {
    this.#release.get(jobId)?.();
  }
  started(jobId: string): boolean {
    return this.calls.some((c) => c.job.jobId === jobId);
  }
}

/** A delivery that records how it was settled. */
function delivery(
  job: Record<string, unknown>,
  opts: { redeliverable?: boolean; final?: boolean; count?: number } = {},
): Delivery & { settled: string[] } {
  const settled: string[] = [];
  return {
    subject: `jobs.dispatch.${AGENT}`,
    data: new TextEncoder().encode(JSON.stringify(job)),
    deliveryCount: opts.count ?? 1,
    redeliverable: opts.redeliverable ?? false,
    final: opts.final ?? !(opts.redeliverable ?? false),
    settled,
    ack: () => void settled.push("ack"),
    term: () => void settled.push("term"),
    nak: () => void settled.push("nak"),
    working: () => {},
  };
}

interface Harness extends AsyncDisposable {
  runner: JobRunner;
  journal: JobJournal;
  sink: RecordingSink;
  executor: ScriptedExecutor;
  scheduler: Scheduler;
  logs: MemoryWriter;
}

function harness(
  opts:
    & { gpus?: string[]; maxConcurrent?: number; queueSize?: number; journal?: JobJournal }
    & Partial<
      JobRunnerOptions
    > = {},
): Harness {
  const journal = opts.journal ?? JobJournal.open(":memory:");
  const sink = new RecordingSink();
  const executor = new ScriptedExecutor();
  const scheduler = new Scheduler({
    gpuUuids: opts.gpus ?? [],
    maxConcurrent: opts.maxConcurrent ?? 1,
    queueSize: opts.queueSize ?? 8,
  });
  const logs = new MemoryWriter();
  const runner = new JobRunner(
    { journal, scheduler, executor, sink, logger: new Logger({ writer: logs }) },
    { agentAddress: AGENT, checks: CHECKS, abortWaitMs: 1000, pruneIntervalMs: 3_600_000, ...opts },
  );
  return {
    runner,
    journal,
    sink,
    executor,
    scheduler,
    logs,
    async [Symbol.asyncDispose]() {
      runner.hurry();
      await runner.stop(0);
      journal.close();
    },
  };
}

async function until(pred: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Journals a GPU job as an earlier process left it: accepted, then moved to `state` (on `gpus`, once started). */
function leftBehind(journal: JobJournal, id: string, state: JobState, gpus?: string[]): void {
  const j: Job = { jobId: id, imageName: "busybox", outputPath: "/output", gpus: 1 };
  journal.insertReceived(id, j);
  journal.accept(id, j, (attempt) => buildStatus({ agentAddress: AGENT, jobId: id, status: "processing", attempt }));
  if (gpus) journal.markStarted(id, gpus);
  if (state !== "validated") journal.setState(id, state as Exclude<JobState, "completed" | "failed">);
}

const job = (id: string, extra: Record<string, unknown> = {}) => ({ job_id: id, image_name: "busybox", ...extra });

Deno.test("runner: one job id runs once whatever the deliveries; a finished job delivered again gets its final status", async () => {
  await using h = harness();
  h.runner.start();
  const first = delivery(job("d1"));
  const second = delivery(job("d1"), { redeliverable: true, final: false, count: 2 });
  h.runner.handle(first);
  h.runner.handle(second);
  await until(() => h.executor.started("d1"), "d1 to start");
  assert.equal(h.executor.calls.length, 1);
  assert.deepEqual(second.settled, [], "the duplicate is held until the job ends");
  h.executor.release("d1");
  await until(() => h.sink.final("d1") !== undefined, "d1's final status");
  await until(() => second.settled.length > 0, "the duplicate settled");
  assert.deepEqual(second.settled, ["ack"]);
  const late = delivery(job("d1"));
  h.runner.handle(late);
  await until(() => h.sink.of("d1").filter((s) => s.status === "completed").length === 2, "the re-published final");
  assert.equal(h.executor.calls.length, 1, "still one execution");
  assert.equal(h.journal.get("d1")?.deliveries, 3);
  assert.deepEqual(h.executor.cleaned, ["d1"], "the executor drops what it kept once the job is final");
});

Deno.test("runner: admission — too many GPUs fails at once; a full queue is given back, or answered on core and last deliveries", async () => {
  await using h = harness({ gpus: ["GPU-a"], maxConcurrent: 1, queueSize: 1 });
  h.runner.start();
  h.runner.handle(delivery(job("big", { gpus: 2 })));
  await until(() => h.sink.final("big") !== undefined, "big's status");
  assert.equal(h.sink.final("big")?.reason, "gpu_unavailable");
  h.runner.handle(delivery(job("a")));
  h.runner.handle(delivery(job("b")));
  const js = delivery(job("c"), { redeliverable: true, final: false });
  h.runner.handle(js);
  assert.deepEqual(js.settled, ["nak"], "JetStream: back to the stream, no status");
  assert.equal(h.sink.final("c"), undefined);
  const last = delivery(job("c2"), { redeliverable: true, final: true, count: 5 });
  h.runner.handle(last);
  h.runner.handle(delivery(job("d")));
  await until(() => h.sink.final("d") !== undefined && h.sink.final("c2") !== undefined, "busy answers");
  for (const id of ["c2", "d"]) {
    assert.deepEqual([h.sink.final(id)?.reason, h.sink.final(id)?.message], ["rejected", "agent busy"], id);
  }
  await until(() => last.settled.length > 0, "the last delivery settled");
  assert.deepEqual(last.settled, ["ack"], "a message on its last delivery never sits silently in the stream");
  assert.equal(h.journal.get("d"), undefined, "agent busy is not journaled as finished: a resend may run");
});

Deno.test("runner: recovery queues never-started jobs through the scheduler — never more than the limit, GPUs assigned", async () => {
  const journal = JobJournal.open(":memory:");
  // An earlier process accepted five GPU jobs (two started fetching or pulling) and crashed.
  leftBehind(journal, "q1", "validated");
  leftBehind(journal, "q2", "validated");
  leftBehind(journal, "q3", "fetching_input", ["GPU-a"]);
  leftBehind(journal, "q4", "pulling_image", ["GPU-b"]);
  leftBehind(journal, "q5", "validated");
  await using h = harness({ journal, gpus: ["GPU-a", "GPU-b"], maxConcurrent: 2 });
  const recovered = h.runner.recover();
  h.runner.start();
  assert.deepEqual(recovered.sort(), ["q1", "q2", "q3", "q4", "q5"]);
  await until(() => h.executor.calls.length === 2, "two to start");
  await sleep(50);
  assert.equal(h.executor.calls.length, 2, "the limit holds for recovered jobs");
  assert.deepEqual(h.executor.calls.map((c) => c.ctx.gpuUuids).flat().sort(), ["GPU-a", "GPU-b"]);
  for (const c of h.executor.calls) assert.equal(c.ctx.resume, undefined, "run from the start");
  // Release whatever runs until all five completed; at no point did more than two run.
  const completed = () => h.sink.sent.filter((s) => s.status === "completed").length;
  await until(() => {
    for (const c of h.executor.calls) h.executor.release(c.job.jobId);
    return completed() === 5;
  }, "all five to complete");
  assert.equal(h.executor.maxConcurrent, 2);
  assert.equal(h.sink.sent.filter((s) => s.status === "completed").length, 5);
});

Deno.test("runner: recovery re-attaches running jobs with their GPUs, uploads spooled outputs, reports unaccepted ones", async () => {
  const journal = JobJournal.open(":memory:");
  leftBehind(journal, "r1", "running", ["GPU-b"]);
  leftBehind(journal, "u1", "uploading", ["GPU-a"]);
  journal.insertReceived("never", undefined); // received, not yet accepted
  await using h = harness({ journal, gpus: ["GPU-a", "GPU-b"], maxConcurrent: 2 });
  h.runner.recover();
  h.runner.start();
  await until(() => h.executor.calls.length === 2, "both resumed");
  const byId = Object.fromEntries(h.executor.calls.map((c) => [c.job.jobId, c.ctx]));
  assert.equal(byId.r1.resume, "reattach");
  assert.deepEqual(byId.r1.gpuUuids, ["GPU-b"], "the GPU its container holds");
  assert.equal(byId.u1.resume, "upload");
  await until(() => h.sink.final("never") !== undefined, "the unaccepted job's status");
  assert.equal(h.sink.final("never")?.reason, "agent_restart");
});

Deno.test("runner: cancel — a queued job ends without running, a running one is aborted, an unknown one is ignored", async () => {
  await using h = harness({ maxConcurrent: 1 });
  h.runner.start();
  h.runner.handle(delivery(job("run")));
  h.runner.handle(delivery(job("wait")));
  await until(() => h.executor.started("run"), "run to start");
  assert.equal(h.runner.cancel("wait"), true);
  await until(() => h.sink.final("wait") !== undefined, "wait's status");
  assert.deepEqual([h.sink.final("wait")?.reason, h.sink.final("wait")?.message], [
    "cancelled",
    "Cancelled while queued",
  ]);
  assert.equal(h.executor.started("wait"), false);
  h.runner.handleCancel(delivery({ job_id: "run" }));
  await until(() => h.sink.final("run") !== undefined, "run's status");
  assert.equal(h.sink.final("run")?.reason, "cancelled", "the abort's reason wins over the executor's");
  assert.equal(h.runner.cancel("nobody"), false);
});

Deno.test("runner: drain — queued jobs given back or failed, running ones finish or are aborted, uploads left to resume", async () => {
  await using h = harness({ maxConcurrent: 2 });
  h.runner.start();
  h.executor.uploading.add("up");
  h.runner.handle(delivery(job("quick")));
  h.runner.handle(delivery(job("up"), { redeliverable: true, final: false }));
  const queuedJs = delivery(job("q-js"), { redeliverable: true, final: false });
  h.runner.handle(queuedJs);
  h.runner.handle(delivery(job("q-core")));
  await until(() => h.executor.calls.length === 2, "two running");
  const stopped = h.runner.stop(300);
  setTimeout(() => h.executor.release("quick"), 50);
  await stopped;
  assert.equal(h.sink.final("quick")?.status, "completed", "finished within the deadline");
  assert.deepEqual(queuedJs.settled, ["nak"], "a redeliverable queued job goes back to the stream");
  assert.equal(h.sink.final("q-core")?.reason, "agent_shutdown");
  assert.equal(h.sink.final("up"), undefined, "an interrupted upload gets no final status");
  assert.equal(h.journal.get("up")?.state, "uploading", "it stays unfinished: the next start uploads it");
  const during = delivery(job("late"));
  h.runner.handle(during);
  assert.equal(h.journal.get("late")?.state, "failed", "a core job arriving while stopping is answered");
  assert.equal(h.journal.get("late")?.reason, "agent_shutdown");
});

Deno.test("runner: a full DATA_DIR ends the job failed/disk_full without journaling it, and the runner keeps serving", async () => {
  await using h = harness();
  h.runner.start();
  const insert = h.journal.insertReceived.bind(h.journal);
  let full = true;
  h.journal.insertReceived = (id, j) => {
    if (full) throw Object.assign(new Error("database or disk is full"), { code: "ERR_SQLITE_FULL" });
    insert(id, j);
  };
  const d = delivery(job("full-1"));
  h.runner.handle(d);
  await until(() => h.sink.final("full-1") !== undefined, "the disk_full status");
  assert.equal(h.sink.final("full-1")?.reason, "disk_full");
  assert.deepEqual(d.settled, ["ack"]);
  assert.equal(h.executor.started("full-1"), false);
  full = false;
  h.runner.handle(delivery(job("after")));
  await until(() => h.executor.started("after"), "the next job to start");
  h.executor.release("after");
  await until(() => h.sink.final("after")?.status === "completed", "the next job to complete");
});

Deno.test("runner: finished jobs older than the retention are pruned; a duplicate after that runs again", async () => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const journal = JobJournal.open(":memory:", { now: () => now });
  await using h = harness({ journal, retentionMs: 86_400_000 });
  h.runner.start();
  h.runner.handle(delivery(job("old")));
  await until(() => h.executor.started("old"), "old to start");
  h.executor.release("old");
  await until(() => journal.get("old")?.state === "completed", "old to finish");
  now += 2 * 86_400_000;
  assert.equal(h.runner.prune(), 1);
  assert.equal(journal.get("old"), undefined);
  h.runner.handle(delivery(job("old")));
  await until(() => h.executor.calls.length === 2, "the very late duplicate to run again");
});

Deno.test("runner: a secret in a failure message never leaves the node in a status", async () => {
  const journal = JobJournal.open(":memory:");
  const sink = new RecordingSink();
  const logger = new Logger({ writer: new MemoryWriter() });
  logger.redactor.add("nats-pass-7f3a9c1e");
  const executor = {
    execute: () =>
      Promise.resolve({
        status: "failed" as const,
        reason: "internal_error" as const,
        message: "cannot reach nats://agent:nats-pass-7f3a9c1e@10.0.0.2:4222",
      }),
  };
  const runner = new JobRunner(
    { journal, scheduler: new Scheduler({ gpuUuids: [], maxConcurrent: 1 }), executor, sink, logger },
    { agentAddress: AGENT, checks: CHECKS },
  );
  runner.start();
  try {
    runner.handle(delivery(job("leaky")));
    await until(() => sink.final("leaky") !== undefined, "the status");
    assert.equal(sink.final("leaky")?.message, "cannot reach nats://agent:[REDACTED]@10.0.0.2:4222");
  } finally {
    await runner.stop(0);
    journal.close();
  }
});

Deno.test("GPU health: a drained GPU gets no new job, a job on a lost GPU ends gpu_unhealthy, and all drained refuses", async () => {
  await using h = harness({ gpus: ["g0", "g1"], maxConcurrent: 2 });
  h.runner.start();
  h.runner.gpuHealthChanged(["g0"], []);
  h.runner.handle(delivery({ job_id: "on-g1", image_name: "busybox" }));
  await until(() => h.executor.started("on-g1"), "the first job");
  assert.deepEqual(h.executor.calls[0].ctx.gpuUuids, ["g1"], "the drained GPU is skipped");
  h.runner.handle(delivery({ job_id: "waits", image_name: "busybox" }));
  await sleep(20);
  assert.equal(h.executor.started("waits"), false, "no healthy GPU free: it waits");

  // g1 falls off the bus: its job is stopped; g0 recovered meanwhile and takes the waiting one.
  assert.deepEqual(h.runner.gpuHealthChanged(["g1"], ["g1"]), ["on-g1"]);
  await until(() => h.sink.final("on-g1") !== undefined, "the lost GPU's job to end");
  const lost = h.sink.final("on-g1")!;
  assert.deepEqual([lost.status, lost.reason], ["failed", "gpu_unhealthy"]);
  assert.match(String(lost.message), /GPU of the job is lost \(g1\)/);
  await until(() => h.executor.started("waits"), "the waiting job on the recovered GPU");
  assert.deepEqual(h.executor.calls.find((c) => c.job.jobId === "waits")!.ctx.gpuUuids, ["g0"]);

  // Every GPU drained: a job that cannot be redelivered is told why at once; a redeliverable one goes back.
  h.runner.gpuHealthChanged(["g0", "g1"], []);
  h.runner.handle(delivery({ job_id: "refused", image_name: "busybox" }));
  await until(() => h.sink.final("refused") !== undefined, "the refusal");
  assert.equal(h.sink.final("refused")!.reason, "gpu_unhealthy");
  assert.match(String(h.sink.final("refused")!.message), /2 of this host's 2 are drained as unhealthy/);
  const js = delivery({ job_id: "back-to-stream", image_name: "busybox" }, { redeliverable: true });
  h.runner.handle(js);
  assert.deepEqual(js.settled, ["nak"]);
  h.executor.release("waits");
});

Deno.test("draining: held jobs go on, a new job is given back to a redelivering stream or refused 'draining'", async () => {
  await using h = harness({ maxConcurrent: 2 });
  h.runner.start();
  h.runner.handle(delivery({ job_id: "held", image_name: "busybox" }));
  await until(() => h.executor.started("held"), "the held job");
  h.runner.setDraining(true);
  assert.equal(h.runner.draining, true);
  assert.equal(h.runner.capacity(), 0, "a pulling intake takes nothing");
  const js = delivery({ job_id: "stays-in-stream", image_name: "busybox" }, { redeliverable: true });
  h.runner.handle(js);
  assert.deepEqual(js.settled, ["nak"]);
  h.runner.handle(delivery({ job_id: "refused", image_name: "busybox" }));
  await until(() => h.sink.final("refused") !== undefined, "the refusal");
  const refused = h.sink.final("refused")!;
  assert.deepEqual([refused.status, refused.reason, refused.message], ["failed", "rejected", "draining"]);
  assert.equal(h.journal.get("refused"), undefined, "not journaled: it may come again after undrain");
  h.executor.release("held");
  await until(() => h.sink.final("held")?.status === "completed", "the held job to finish");
  h.runner.setDraining(false);
  assert.equal(h.runner.capacity(), 2);
  h.runner.handle(delivery({ job_id: "refused", image_name: "busybox" }));
  await until(() => h.executor.started("refused"), "the same job, taken after undrain");
  h.executor.release("refused");
});

Deno.test("runner: each stage is announced once, journaled before it starts; transfer progress goes out at a bounded rate", async () => {
  await using h = harness({ progressStatusIntervalMs: 100 });
  h.executor.uploading.add("staged");
  h.runner.handle(delivery({ job_id: "staged", image_name: "busybox" }));
  await until(() => h.runner.activeJobs()[0]?.stage === "uploading", "the uploading stage");
  const journaled = h.journal.get("staged");
  assert.equal(journaled?.state, "uploading");
  const ctx = h.executor.calls[0].ctx;
  await until(() => h.runner.unsentStatuses === 0, "the stage statuses to go out");

  // 1 s of reports every 5 ms: the page sees the latest, the bus at most one per 100 ms.
  const total = 10_000_000;
  const started = Date.now();
  let bytes = 0;
  while (Date.now() - started < 1000) {
    bytes += 40_000;
    ctx.transfer!("uploading", { bytes, total, bytesPerSecond: 8e6, done: false });
    await new Promise((r) => setTimeout(r, 5));
  }
  const elapsed = Date.now() - started;
  const active = h.runner.activeJobs();
  assert.deepEqual(active.map((a) => [a.jobId, a.stage, a.transfers.uploading?.bytes]), [[
    "staged",
    "uploading",
    bytes,
  ]]);
  const progress = h.sink.of("staged").filter((s) => (s as { progress?: unknown }).progress !== undefined);
  assert.ok(progress.length >= 5, `progress statuses went out (${progress.length})`);
  assert.ok(
    progress.length <= Math.ceil(elapsed / 100) + 1,
    `at most one per 100 ms (${progress.length} in ${elapsed} ms)`,
  );
  const first = progress[0] as StatusMessage & { progress: { bytes: number; total_bytes: number } };
  assert.equal(first.stage, "uploading");
  assert.equal(first.progress.total_bytes, total);
  const seen = progress.map((s) => (s as unknown as { progress: { bytes: number } }).progress.bytes);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b), "bytes only grow");

  ctx.transfer!("uploading", { bytes: total, total, bytesPerSecond: 8e6, done: true });
  assert.equal(h.runner.activeJobs()[0].transfers.uploading, undefined, "a finished transfer leaves the page");
  h.executor.release("staged");
  await until(() => h.sink.final("staged")?.status === "completed", "completion");
  const stages = h.sink.of("staged").filter((s) => s.status === "processing" && !("progress" in s)).map((s) => s.stage);
  assert.deepEqual(stages, ["validated", "running", "uploading"], "each stage once, in order");
});

Deno.test("runner: `Job finished` carries the job's timing, step by step, with what the executor timed", async () => {
  await using h = harness();
  h.runner.handle(delivery({ job_id: "timed", image_name: "busybox" }));
  await until(() => h.executor.started("timed"), "the start");
  const ctx = h.executor.calls[0].ctx;
  ctx.times?.add("upload", 12.34);
  await new Promise((r) => setTimeout(r, 30));
  h.executor.release("timed");
  await until(() => h.sink.final("timed") !== undefined, "the final status");
  const finished = h.logs.records.find((r) => r.msg === "Job finished" && r.fields.job_id === "timed");
  const timing = finished?.fields.timing as Record<string, number>;
  assert.deepEqual(Object.keys(timing).sort(), ["accept", "execute_total", "finish", "journal", "queued", "upload"]);
  assert.equal(timing.upload, 12.3, "the executor's step, to 0.1 ms");
  assert.ok(timing.execute_total >= 30, `the executor ran at least 30 ms (${timing.execute_total})`);
  assert.ok(Object.values(timing).every((v) => v >= 0));
});
