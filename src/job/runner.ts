/**
 * The job runner: the one owner of a job's life. Deliveries come in (from any transport) → validation and signer
 * policy → journal → scheduler → executor → the status outbox. It also recovers jobs an earlier process left
 * unfinished, cancels, and drains on shutdown. One job id runs once whatever the deliveries; a finished job delivered
 * again gets its final status again.
 */
import { getAddress } from "ethers";
import type { Logger } from "../log/mod.ts";
import { isDiskFull } from "../reasons.ts";
import { settleWithin } from "../timers.ts";
import { StepTimes } from "../timing.ts";
import { parseCancel } from "./cancel.ts";
import type { Delivery } from "./delivery.ts";
import { InvalidJobError } from "./errors.ts";
import type { JobJournal, OutboxEntry } from "./journal.ts";
import { Outbox, type StatusSink, unjournaledEntry } from "./outbox.ts";
import { resumePlan } from "./resume.ts";
import type { Scheduler } from "./scheduler.ts";
import { parseJobMessage, type SpecChecks } from "./schema.ts";
import { isAllowedSigner, jobSigningText, recoverSigner } from "./signature.ts";
import { buildStatus, jobTimings, progressMsgId, type StatusInput, type StatusMessage } from "./status.ts";
import {
  type FailureReason,
  isTerminal,
  type Job,
  JobAbort,
  type JobExecutor,
  type JobOutcome,
  type JobState,
  type TransferReport,
  type TransferStage,
  type WireStatus,
} from "./types.ts";

/** A terminal status. */
export type FinalStatus = StatusMessage<"completed" | "failed">;

/** What the runner works with; each has one real implementation, built by the agent. */
export interface JobRunnerDeps {
  journal: JobJournal;
  scheduler: Scheduler;
  executor: JobExecutor;
  /** Where statuses go (the bus). */
  sink: StatusSink;
  logger: Logger;
}

/** Options of {@linkcode JobRunner}. */
export interface JobRunnerOptions {
  agentAddress: string;
  /** The container-side field checks (the Docker component's). */
  checks: SpecChecks;
  /** Default 64 KiB. */
  maxMessageBytes?: number;
  /** When non-empty, jobs (and cancels) must be signed by one of these addresses. */
  signers?: string[];
  /**
   * On {@linkcode JobRunner.stop}, how long aborted jobs get to end (their containers stopped with grace, then
   * removed) before statuses are flushed; default 10 s. Must exceed the container stop grace.
   */
  abortWaitMs?: number;
  /** How often held deliveries are told "still working" (JetStream progress acks); 0 (default) never. */
  workingIntervalMs?: number;
  /** Finished jobs older than this are pruned from the journal (JOURNAL_RETENTION); default 7 days. */
  retentionMs?: number;
  /** How often the journal is pruned; default 1 h. */
  pruneIntervalMs?: number;
  /** Called once per job with its terminal status, whatever the path (metrics). */
  onTerminal?: (status: FinalStatus) => void;
  /** Least time between two transfer-progress statuses of one stage of a job; default 2 s. */
  progressStatusIntervalMs?: number;
}

interface Active {
  job: Job;
  attempt: number;
  controller: AbortController;
  deliveries: Delivery[];
  done?: Promise<void>;
  /** The stage it reached, once running; GPUs it holds. */
  stage?: JobState;
  gpus?: string[];
  startedAt?: number;
  /** Transfers in progress, by stage, and when each last went out as a status. */
  transfers: Map<TransferStage, TransferReport>;
  published: Map<TransferStage, number>;
  /** Where its time goes; when it was accepted (`performance.now()`), for the time it queued. */
  times: StepTimes;
  acceptedAt?: number;
}

/** A queued or running job, as the status page shows it. */
export interface ActiveJob {
  jobId: string;
  attempt: number;
  image: string;
  /** `validated` while queued. */
  stage: JobState;
  gpus: string[];
  startedAt?: number;
  transfers: Partial<Record<TransferStage, TransferReport>>;
}

/** Runs jobs: `handle()` deliveries after `start()`, `stop(deadlineMs)` to drain. */
export class JobRunner {
  readonly #journal: JobJournal;
  readonly #scheduler: Scheduler;
  readonly #executor: JobExecutor;
  readonly #sink: StatusSink;
  readonly #log: Logger;
  readonly #opts: JobRunnerOptions;
  readonly #address: string;
  readonly #outbox: Outbox;
  #active = new Map<string, Active>();
  #settle = new Map<string, { delivery: Delivery; kind: "ack" | "term" }[]>();
  #slotListeners = new Set<() => void>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopping = false;
  #draining = false;
  #stopped?: Promise<void>;
  #hurry = Promise.withResolvers<void>();

  constructor(deps: JobRunnerDeps, options: JobRunnerOptions) {
    this.#journal = deps.journal;
    this.#scheduler = deps.scheduler;
    this.#executor = deps.executor;
    this.#sink = deps.sink;
    this.#log = deps.logger.child({ component: "jobs" });
    this.#opts = options;
    this.#address = getAddress(options.agentAddress);
    this.#outbox = new Outbox(deps.journal, deps.sink, this.#log, (e) => this.#onSent(e));
  }

  /** Running jobs. */
  get running(): number {
    return this.#scheduler.running;
  }
  /** Jobs waiting for a slot or GPUs. */
  get queued(): number {
    return this.#scheduler.queued;
  }
  /** Slots neither running nor queued. */
  get freeSlots(): number {
    return this.#scheduler.freeSlots;
  }
  /** Statuses waiting in the outbox. */
  get unsentStatuses(): number {
    return this.#journal.unsentCount();
  }
  /** How many more jobs a pulling intake may take now (0 while stopping or draining). */
  capacity(): number {
    return this.#stopping || this.#draining ? 0 : this.#scheduler.freeSlots;
  }

  /** Whether the node is draining: it finishes what it holds and takes no new job. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Drains (or stops draining): running and queued jobs go on; a new job is given back when the server can redeliver
   * it (JetStream: it stays in the stream for another node), otherwise answered `failed`/`rejected` "draining".
   */
  setDraining(on: boolean): void {
    if (this.#draining === on) return;
    this.#draining = on;
    this.#log.info(on ? "Draining: finishing held jobs, taking no new ones" : "Drain ended: taking jobs again");
    if (!on) { for (const l of this.#slotListeners) l(); }
  }
  /** Calls `listener` whenever a slot frees; returns a function that removes it. */
  onSlotFreed(listener: () => void): () => void {
    this.#slotListeners.add(listener);
    return () => this.#slotListeners.delete(listener);
  }

  /** Sends statuses left in the outbox and starts the periodic work (progress acks, journal pruning). */
  start(): void {
    const working = this.#opts.workingIntervalMs ?? 0;
    if (working > 0) this.#timers.push(setInterval(() => this.#working(), working));
    this.#timers.push(setInterval(() => this.prune(), this.#opts.pruneIntervalMs ?? 3_600_000));
    this.prune();
    this.#outbox.kick();
  }

  /** Prunes finished jobs older than the retention from the journal; returns how many went. */
  prune(): number {
    try {
      const { jobs, statuses } = this.#journal.prune(this.#opts.retentionMs ?? 7 * 86_400_000);
      if (jobs || statuses) this.#log.info("Journal pruned", { jobs, statuses });
      return jobs;
    } catch (error) {
      this.#log.warn("Journal prune failed", { error: error as Error });
      return 0;
    }
  }

  /** The load figures of the presence beacon. */
  load(): Record<string, unknown> {
    return {
      gpus: [...this.#scheduler.gpuUuids],
      free_gpus: this.#scheduler.freeGpus,
      max_concurrent: this.#scheduler.maxConcurrent,
      free_slots: this.#scheduler.freeSlots,
      running_jobs: this.#scheduler.runningIds(),
      queued_jobs: this.#scheduler.queued,
    };
  }

  /** Queued and running jobs, oldest first. */
  activeJobs(): ActiveJob[] {
    return [...this.#active.entries()].map(([jobId, a]) => ({
      jobId,
      attempt: a.attempt,
      image: a.job.imageName,
      stage: a.stage ?? "validated",
      gpus: a.gpus ?? [],
      startedAt: a.startedAt,
      transfers: Object.fromEntries(a.transfers),
    }));
  }

  /** Handles one job message. Synchronous up to the executor call, so duplicates cannot race each other. */
  handle(delivery: Delivery): void {
    const t0 = performance.now();
    let parsed;
    try {
      parsed = parseJobMessage(delivery.data, { maxBytes: this.#opts.maxMessageBytes, checks: this.#opts.checks });
    } catch (error) {
      if (!(error instanceof InvalidJobError)) throw error;
      return this.#invalid(delivery, error);
    }
    const { job, canonicalFields } = parsed;
    try {
      this.#accept(job, canonicalFields, delivery, t0);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      this.#diskFull(job.jobId, delivery, error);
    }
  }

  #accept(job: Job, canonicalFields: Record<string, unknown>, delivery: Delivery, t0 = performance.now()): void {
    const log = this.#log.child({ job_id: job.jobId });
    const rec = this.#journal.get(job.jobId);
    if (rec) {
      this.#journal.countDelivery(job.jobId);
      if (isTerminal(rec.state)) {
        log.info("Duplicate of a finished job: re-publishing its final status", { state: rec.state });
        this.#journal.republishFinal(job.jobId);
        return this.#settleAfterStatus(job.jobId, delivery, "ack");
      }
      const active = this.#active.get(job.jobId);
      if (active) {
        log.info("Duplicate of a job in progress ignored", { delivery_count: delivery.deliveryCount });
        active.deliveries.push(delivery);
        return;
      }
      log.info("Job left unfinished by an earlier run delivered again: starting a new attempt", { state: rec.state });
    }
    if (this.#stopping) {
      // Given back for a later start when the server can redeliver; otherwise (core NATS, or its last delivery)
      // the dispatcher hears why instead of nothing.
      if (delivery.redeliverable && !delivery.final) return delivery.nak();
      return this.#finishNow(job.jobId, 0, "agent_shutdown", "The agent is shutting down", delivery, "ack");
    }
    if (this.#draining) {
      if (delivery.redeliverable && !delivery.final) return delivery.nak(30_000);
      log.info("Job refused: the node is draining");
      // Not journaled as finished: the dispatcher may send it again (here after undrain, or to another node).
      this.#journal.enqueueStatus(this.#status(job.jobId, 0, "failed", { reason: "rejected", message: "draining" }));
      return this.#settleAfterStatus(job.jobId, delivery, "ack");
    }
    const signers = this.#opts.signers ?? [];
    if (signers.length > 0) {
      const signer = job.signature ? recoverSigner(jobSigningText(canonicalFields), job.signature) : undefined;
      if (!isAllowedSigner(signer, signers)) {
        const why = job.signature ? "Job signature is not from an allowed signer" : "Job signature missing";
        log.warn("Job rejected", { reason: why });
        return this.#finishNow(job.jobId, 0, "rejected", why, delivery, "ack");
      }
      job.signer = signer;
    }
    const gpus = this.#scheduler.gpusFor(job.gpus);
    const admission = this.#scheduler.check(gpus);
    if (admission === "too_many_gpus") {
      const msg = `Job asks for ${gpus} GPUs; this host has ${this.#scheduler.gpuUuids.length}`;
      return this.#finishNow(job.jobId, 0, "gpu_unavailable", msg, delivery, "ack");
    }
    if (admission === "gpus_unhealthy") {
      // Another node (or this one, once its GPUs recover) can take it: given back when the server can redeliver.
      if (delivery.redeliverable && !delivery.final) return delivery.nak(30_000);
      const s = this.#scheduler;
      const msg = `Job asks for ${gpus} GPU(s); ${s.drainedGpus.length} of this host's ${s.gpuUuids.length} are ` +
        "drained as unhealthy";
      return this.#finishNow(job.jobId, 0, "gpu_unhealthy", msg, delivery, "ack");
    }
    if (admission === "queue_full") {
      if (delivery.redeliverable && !delivery.final) return delivery.nak(1000);
      log.warn("Job rejected: agent busy", { queued: this.#scheduler.queued });
      // Not journaled as finished: the dispatcher may send the same job again later.
      this.#journal.enqueueStatus(this.#status(job.jobId, 0, "failed", { reason: "rejected", message: "agent busy" }));
      return this.#settleAfterStatus(job.jobId, delivery, "ack");
    }
    const attempt = this.#journal.accept(
      job.jobId,
      job,
      (a) => this.#status(job.jobId, a, "processing", { stage: "validated" }),
    );
    const active = newActive(job, attempt, [delivery]);
    active.acceptedAt = active.times.since("accept", t0);
    this.#active.set(job.jobId, active);
    this.#scheduler.enqueue(job.jobId, gpus);
    log.info("Job accepted", { attempt, image: job.imageName, gpus, signer: job.signer });
    this.#outbox.kick();
    this.#pump();
  }

  /** Handles one cancel message (`{"job_id": …}`, signed when signers are set). */
  handleCancel(delivery: Delivery): void {
    const parsed = parseCancel(delivery.data, this.#opts.signers ?? []);
    if ("error" in parsed) return this.#log.warn("Cancel message ignored", { reason: parsed.error });
    const found = this.cancel(parsed.jobId);
    this.#log.info(found ? "Job cancel requested" : "Cancel for a job not queued or running ignored", {
      job_id: parsed.jobId,
    });
  }

  /**
   * Crash recovery, before intake starts: each job an earlier process left unfinished continues by its
   * {@linkcode resumePlan} — queued again through the scheduler (limits and GPUs as for any job), re-attached or
   * uploaded with the GPUs its container holds, or reported `agent_restart`. A redelivery meanwhile counts as a
   * duplicate of a job in progress. Returns the recovered job ids.
   */
  recover(): string[] {
    const ids: string[] = [];
    for (const rec of this.#journal.listUnfinished()) {
      const log = this.#log.child({ job_id: rec.jobId, attempt: rec.attempt });
      const plan = resumePlan(rec);
      if (plan.kind === "report") {
        log.warn("Unfinished job cannot continue: reporting agent_restart", { state: rec.state });
        this.#finish(rec.jobId, this.#status(rec.jobId, rec.attempt, "failed", { reason: "agent_restart", ...plan }));
        continue;
      }
      const active = newActive(rec.job!, rec.attempt, []);
      if (plan.kind === "queue") {
        const gpus = this.#scheduler.gpusFor(rec.job!.gpus);
        if (this.#scheduler.check(gpus) === "too_many_gpus") {
          const message = `Job asks for ${gpus} GPUs; this host now has ${this.#scheduler.gpuUuids.length}`;
          this.#finish(
            rec.jobId,
            this.#status(rec.jobId, rec.attempt, "failed", { reason: "gpu_unavailable", message }),
          );
          continue;
        }
        this.#active.set(rec.jobId, active);
        this.#scheduler.enqueue(rec.jobId, gpus);
        log.info("Recovering a job left unfinished by an earlier run: queued again", { state: rec.state, gpus });
      } else {
        this.#active.set(rec.jobId, active);
        const gpus = this.#scheduler.reserve(rec.jobId, rec.gpuUuids);
        log.info("Recovering a job left unfinished by an earlier run", { state: rec.state, plan: plan.kind, gpus });
        active.done = this.#run(rec.jobId, active, gpus, plan.kind);
      }
      ids.push(rec.jobId);
    }
    this.#pump();
    this.#outbox.kick();
    return ids;
  }

  /**
   * GPU health changed: `drained` GPUs take no new job (queued jobs wait for healthy ones), and running jobs on a
   * `lost` GPU (one nvidia-smi can no longer reach) are stopped as `gpu_unhealthy`. Returns the jobs stopped.
   */
  gpuHealthChanged(drained: string[], lost: string[]): string[] {
    this.#scheduler.setDrained(drained);
    const stopped = this.#scheduler.jobsOn(lost);
    const message = `A GPU of the job is lost (${lost.join(", ")}): nvidia-smi can no longer reach it`;
    for (const jobId of stopped) this.#active.get(jobId)?.controller.abort(new JobAbort("gpu_unhealthy", message));
    this.#pump();
    return stopped;
  }

  /** Cancels a queued or running job; returns whether it was found. */
  cancel(jobId: string): boolean {
    const active = this.#active.get(jobId);
    if (!active) return false;
    if (this.#scheduler.dequeue(jobId)) {
      this.#active.delete(jobId);
      this.#finishActive(jobId, active, { status: "failed", reason: "cancelled", message: "Cancelled while queued" });
      return true;
    }
    active.controller.abort(new JobAbort("cancelled", "Cancelled by request"));
    return true;
  }

  /**
   * Drains (call after the intake stopped): settles queued jobs (given back when the server can redeliver them,
   * otherwise `failed`/`agent_shutdown`), waits for running jobs until `deadlineMs`, then aborts them
   * (`agent_shutdown`; an upload in progress is left to resume at the next start) and flushes statuses. A second call
   * waits for the first.
   */
  stop(deadlineMs: number): Promise<void> {
    this.#stopped ??= this.#stop(deadlineMs);
    return this.#stopped;
  }

  async #stop(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    this.#stopping = true;
    for (const jobId of this.#scheduler.queuedIds()) {
      const active = this.#active.get(jobId)!;
      this.#scheduler.dequeue(jobId);
      this.#active.delete(jobId);
      const giveBack = active.deliveries.length > 0 && active.deliveries.every((d) => d.redeliverable && !d.final);
      if (giveBack) {
        // Back to the journal's `validated`: the redelivery (or a restart) starts it again.
        for (const d of active.deliveries) d.nak();
      } else {
        this.#finishActive(jobId, active, { status: "failed", reason: "agent_shutdown", message: "Agent stopped" });
      }
    }
    const running = () => [...this.#active.values()].map((a) => a.done).filter((p) => p !== undefined);
    await Promise.race([settleWithin(running(), deadline - Date.now()), this.#hurry.promise]);
    for (const a of this.#active.values()) a.controller.abort(new JobAbort("agent_shutdown", "Agent stopped"));
    await settleWithin(running(), this.#opts.abortWaitMs ?? 10_000);
    await this.#outbox.flush(Math.max(1000, deadline - Date.now()));
    for (const t of this.#timers.splice(0)) clearInterval(t);
    await this.#outbox.stop();
    this.#log.info("Job intake stopped", { unsent_statuses: this.#journal.unsentCount() });
  }

  /** During {@linkcode stop}: stops waiting for running jobs and aborts them now (a second SIGINT/SIGTERM). */
  hurry(): void {
    this.#hurry.resolve();
  }

  #invalid(delivery: Delivery, error: InvalidJobError): void {
    const jobId = error.jobId;
    if (!jobId) {
      this.#log.warn("Invalid job message dropped (no readable job id)", { subject: delivery.subject, error });
      return delivery.term("invalid job");
    }
    const rec = this.#journal.get(jobId);
    if (rec) {
      // An invalid message must not touch a real job with the same id.
      this.#log.warn("Invalid message for a known job ignored", { job_id: jobId, error });
      if (isTerminal(rec.state)) this.#journal.republishFinal(jobId);
      this.#outbox.kick();
      return delivery.term("invalid job");
    }
    this.#log.warn("Invalid job", { job_id: jobId, error: error.message });
    this.#finishNow(jobId, 0, "invalid_job", error.message, delivery, "term");
  }

  /**
   * The journal cannot be written (DATA_DIR full): the job ends `failed`/`disk_full`, published straight to the sink
   * (the outbox lives in the same journal), and the agent goes on serving.
   */
  #diskFull(jobId: string, delivery: Delivery, error: unknown): void {
    this.#log.error("DATA_DIR is full: the job cannot be journaled", { job_id: jobId, error: error as Error });
    const status = this.#status(jobId, 0, "failed", {
      reason: "disk_full",
      message: "The node's disk is full (DATA_DIR): the job was not started",
    });
    this.#publishDirect(status).then(() => delivery.ack(), () => {
      if (delivery.redeliverable && !delivery.final) delivery.nak(30_000);
    });
    this.#notifyTerminal(status);
  }

  #publishDirect(status: StatusMessage): Promise<void> {
    return this.#sink.publish(unjournaledEntry(status));
  }

  #finishNow(
    jobId: string,
    attempt: number,
    reason: FailureReason,
    message: string,
    delivery: Delivery,
    kind: "ack" | "term",
  ): void {
    this.#settleAfterStatus(jobId, delivery, kind);
    this.#finish(jobId, this.#status(jobId, attempt, "failed", { reason, message }));
  }

  #settleAfterStatus(jobId: string, delivery: Delivery, kind: "ack" | "term"): void {
    const list = this.#settle.get(jobId) ?? [];
    list.push({ delivery, kind });
    this.#settle.set(jobId, list);
    this.#outbox.kick();
  }

  #onSent(entry: OutboxEntry): void {
    if (entry.status === "processing") return;
    const list = this.#settle.get(entry.jobId);
    if (!list) return;
    this.#settle.delete(entry.jobId);
    for (const { delivery, kind } of list) kind === "ack" ? delivery.ack() : delivery.term("invalid job");
  }

  #working(): void {
    for (const a of this.#active.values()) for (const d of a.deliveries) d.working();
    for (const list of this.#settle.values()) for (const { delivery } of list) delivery.working();
  }

  #pump(): void {
    for (const { jobId, gpuUuids } of this.#scheduler.admit()) {
      const active = this.#active.get(jobId)!;
      active.done = this.#run(jobId, active, gpuUuids);
    }
  }

  async #run(jobId: string, active: Active, gpuUuids: string[], resume?: "reattach" | "upload"): Promise<void> {
    const log = this.#log.child({ job_id: jobId, attempt: active.attempt });
    const signal = active.controller.signal;
    let outcome: JobOutcome;
    const times = active.times;
    if (active.acceptedAt !== undefined) times.since("queued", active.acceptedAt);
    try {
      const t0 = performance.now();
      if (!resume) this.#journal.markStarted(jobId, gpuUuids);
      times.since("journal", t0);
      active.gpus = gpuUuids;
      active.startedAt = Date.now();
      active.stage = resume ? this.#stateOf(jobId) : "validated";
      log.info("Job started", { gpus: gpuUuids, ...(resume ? { resume } : {}) });
      const tx = performance.now();
      outcome = await this.#executor.execute(active.job, {
        attempt: active.attempt,
        gpuUuids,
        signal,
        resume,
        times,
        progress: (stage, ...also) => {
          // The stages and the statuses that announce them, in one journal write, before the stages' side effects.
          const t0 = performance.now();
          const stages = [stage, ...also];
          const statuses = stages.map((s) => this.#status(jobId, active.attempt, "processing", { stage: s }));
          active.stage = stages.at(-1)!;
          this.#journal.setState(jobId, active.stage, ...statuses);
          times.since("journal", t0);
          for (const s of stages) log.info("Job stage", { stage: s });
          this.#outbox.kick();
          return Promise.resolve();
        },
        transfer: (stage, report) => this.#transfer(jobId, active, stage, report),
      });
      times.since("execute_total", tx);
    } catch (error) {
      const full = isDiskFull(error);
      outcome = {
        status: "failed",
        reason: full ? "disk_full" : "internal_error",
        message: full ? "The node's disk is full (DATA_DIR)" : (error as Error)?.message ?? String(error),
      };
      log.error("Executor failed", { error: error as Error });
    }
    const abort = signal.aborted && signal.reason instanceof JobAbort ? signal.reason : undefined;
    if (abort && outcome.status === "failed") outcome = { ...outcome, reason: abort.reason, message: abort.message };
    this.#scheduler.release(jobId);
    this.#active.delete(jobId);
    if (abort?.reason === "agent_shutdown" && outcome.status === "failed" && this.#stateOf(jobId) === "uploading") {
      // The container's work is done and its output spooled: the next start uploads it (resume plan "upload").
      log.info("Upload interrupted by shutdown: it resumes at the next start");
      for (const d of active.deliveries) if (d.redeliverable && !d.final) d.nak();
    } else {
      const t0 = performance.now();
      this.#finishActive(jobId, active, outcome);
      times.since("finish", t0);
      const rec = this.#journal.get(jobId);
      log.info("Job finished", {
        status: outcome.status,
        ...(outcome.status === "completed"
          ? { output_cid: outcome.outputCid }
          : { reason: outcome.reason, message: outcome.message }),
        duration: rec ? `${(Math.max(0, Date.now() - rec.receivedAt) / 1000).toFixed(1)}s` : undefined,
        timing: times.toJSON(),
      });
    }
    for (const l of this.#slotListeners) l();
    this.#pump();
  }

  /**
   * A transfer's progress: kept for the status page, and published as a `processing` status with `progress` at most
   * every `progressStatusIntervalMs` per stage — straight to the sink, not journaled (a lost one is replaced by the
   * next), and only while the outbox is empty, so it never overtakes the status that opened its stage.
   */
  #transfer(jobId: string, active: Active, stage: TransferStage, report: TransferReport): void {
    if (report.done) active.transfers.delete(stage);
    else active.transfers.set(stage, report);
    const now = Date.now();
    const interval = this.#opts.progressStatusIntervalMs ?? 2000;
    if (report.done || now - (active.published.get(stage) ?? 0) < interval) return;
    if (!this.#sink.connected || this.#journal.unsentCount() > 0) return;
    active.published.set(stage, now);
    const status = this.#status(jobId, active.attempt, "processing", {
      stage,
      extra: {
        progress: {
          bytes: report.bytes,
          ...(report.total !== undefined ? { total_bytes: report.total } : {}),
          bytes_per_second: Math.round(report.bytesPerSecond),
        },
      },
    });
    const entry = { ...unjournaledEntry(status), msgId: progressMsgId(jobId, active.attempt, stage, report.bytes) };
    this.#sink.publish(entry).catch((error) => {
      this.#log.debug("Progress status not published", { job_id: jobId, stage, error: error as Error });
    });
  }

  #stateOf(jobId: string): JobState | undefined {
    try {
      return this.#journal.get(jobId)?.state;
    } catch {
      return undefined;
    }
  }

  #finishActive(jobId: string, active: Active, outcome: JobOutcome): void {
    for (const d of active.deliveries) this.#settleAfterStatus(jobId, d, "ack");
    const timings = jobTimings(this.#journal.get(jobId));
    const status = outcome.status === "completed"
      ? this.#status(jobId, active.attempt, "completed", {
        outputCid: outcome.outputCid,
        exitCode: outcome.exitCode,
        timings,
        extra: outcome.extra,
      })
      : this.#status(jobId, active.attempt, "failed", {
        reason: outcome.reason,
        message: outcome.message,
        exitCode: outcome.exitCode,
        timings,
        extra: outcome.extra,
      });
    this.#finish(jobId, status);
  }

  /**
   * Journals a terminal status (which queues it in the outbox), lets the executor drop what it kept for a retry, and
   * reports it. When the journal cannot take it (disk full), the status goes straight to the sink.
   */
  #finish(jobId: string, status: FinalStatus): void {
    try {
      this.#journal.finish(jobId, status);
      this.#outbox.kick();
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      this.#log.error("DATA_DIR is full: the final status is published without being journaled", {
        job_id: jobId,
        error: error as Error,
      });
      this.#publishDirect(status).then(() => this.#onSent(unjournaledEntry(status)), (e) => {
        this.#log.error("Final status could not be published", { job_id: jobId, error: e as Error });
      });
    }
    this.#executor.cleanup?.(jobId).catch((error) => {
      this.#log.warn("Job clean-up failed", { job_id: jobId, error: error as Error });
    });
    this.#notifyTerminal(status);
  }

  #notifyTerminal(status: FinalStatus): void {
    try {
      this.#opts.onTerminal?.(status);
    } catch (error) {
      this.#log.warn("onTerminal callback failed", { error: error as Error });
    }
  }

  #status<S extends WireStatus>(
    jobId: string,
    attempt: number,
    status: S,
    more: Omit<StatusInput<S>, "agentAddress" | "jobId" | "status" | "attempt"> = {},
  ): StatusMessage<S> {
    // Statuses leave the node: the logger's redactor (every configured secret) guards them as it guards log lines.
    const message = more.message === undefined ? undefined : this.#log.redactor.text(more.message);
    return buildStatus({ agentAddress: this.#address, jobId, status, attempt, ...more, message });
  }
}

function newActive(job: Job, attempt: number, deliveries: Delivery[]): Active {
  return {
    job,
    attempt,
    controller: new AbortController(),
    deliveries,
    transfers: new Map(),
    published: new Map(),
    times: new StepTimes(),
  };
}
