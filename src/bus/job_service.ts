/**
 * The job service: intake (core or JetStream) → validation → journal → scheduler → executor → status outbox.
 * One job id runs once whatever the deliveries; a finished job delivered again gets its final status again.
 */
import { getAddress } from "ethers";
import type { Logger } from "../log/mod.ts";
import {
  buildStatus,
  InvalidJobError,
  isAllowedSigner,
  isTerminal,
  JobAbort,
  jobSigningText,
  parseJobMessage,
  recoverSigner,
} from "../job/mod.ts";
import type {
  FailureReason,
  Job,
  JobExecutor,
  JobJournal,
  JobOutcome,
  JobRecord,
  JobState,
  OutboxEntry,
  Scheduler,
  SpecChecks,
  StatusMessage,
  StatusTimings,
} from "../job/mod.ts";
import type { BusConnection } from "./connection.ts";
import type { Delivery } from "./delivery.ts";
import { parseCancel } from "./cancel.ts";
import { CoreSubscriber } from "./core_intake.ts";
import { JetStreamIntake } from "./jetstream_intake.ts";
import { Presence } from "./presence.ts";
import { StatusPublisher } from "./status_publisher.ts";
import { cancelSubjects, dispatchSubjects, durableName, presenceSubject } from "./subjects.ts";

/** JetStream intake settings (names, limits); the durable name and filter come from the agent address. */
export interface JobServiceJetStreamOptions {
  jobStream: string;
  statusStream: string;
  createStreams: boolean;
  replicas?: number;
  ackWaitMs: number;
  maxDeliver: number;
  /** Pull request lifetime; default 5 s. */
  pullExpiresMs?: number;
}

/** Options for {@linkcode JobService}. */
export interface JobServiceOptions {
  agentAddress: string;
  intake: "core" | "jetstream";
  /** Default `agent.status`. */
  statusSubject?: string;
  /** Default 64 KiB. */
  maxMessageBytes?: number;
  /** When non-empty, jobs (and cancels) must be signed by one of these addresses. */
  signers?: string[];
  /** Field checks (default: the Docker component's). */
  checks?: SpecChecks;
  jetstream?: JobServiceJetStreamOptions;
  /** Presence beacon period; default 15 s, 0 disables. */
  presenceIntervalMs?: number;
  version?: string;
  /** GPU health summary for the presence beacon. */
  health?: () => unknown;
  /**
   * On {@linkcode JobService.stop}, how long aborted jobs get to end (their containers stopped with grace, then
   * removed) before statuses are flushed; default 10 s. Must exceed the container stop grace.
   */
  abortWaitMs?: number;
  /** Called once per job with its terminal status (completed or failed, whatever the path): metrics. */
  onTerminal?: (status: StatusMessage) => void;
}

interface Active {
  job: Job;
  attempt: number;
  gpus: number;
  controller: AbortController;
  deliveries: Delivery[];
  done?: Promise<void>;
}

/** Takes jobs over NATS and runs each once. `start()`, then `stop(deadlineMs)` to drain. */
export class JobService {
  readonly #conn: BusConnection;
  readonly #journal: JobJournal;
  readonly #scheduler: Scheduler;
  readonly #executor: JobExecutor;
  readonly #log: Logger;
  readonly #opts: JobServiceOptions;
  readonly #address: string;
  readonly #statusSubject: string;
  readonly #publisher: StatusPublisher;
  #active = new Map<string, Active>();
  #settle = new Map<string, { delivery: Delivery; kind: "ack" | "term" }[]>();
  #core: CoreSubscriber[] = [];
  #js?: JetStreamIntake;
  #presence?: Presence;
  #workingTimer?: ReturnType<typeof setInterval>;
  #stopping = false;
  #stopped?: Promise<void>;
  #hurry = Promise.withResolvers<void>();

  constructor(
    connection: BusConnection,
    journal: JobJournal,
    scheduler: Scheduler,
    executor: JobExecutor,
    logger: Logger,
    options: JobServiceOptions,
  ) {
    this.#conn = connection;
    this.#journal = journal;
    this.#scheduler = scheduler;
    this.#executor = executor;
    this.#opts = options;
    this.#address = getAddress(options.agentAddress);
    this.#log = logger.child({ component: "bus" });
    this.#statusSubject = options.statusSubject ?? "agent.status";
    if (options.intake === "jetstream" && !options.jetstream) throw new TypeError("JetStream intake needs options");
    this.#publisher = new StatusPublisher(connection, journal, this.#log, {
      subject: this.#statusSubject,
      jetstream: options.intake === "jetstream",
      onSent: (e) => this.#onSent(e),
    });
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

  /** Starts intake, cancel handling, presence, and sends statuses left in the outbox. */
  async start(): Promise<void> {
    const handle = (d: Delivery) => this.handle(d);
    const cancel = (d: Delivery) => this.#handleCancel(d);
    this.#core.push(new CoreSubscriber(this.#conn, cancelSubjects(this.#address), this.#log, cancel));
    if (this.#opts.intake === "core") {
      this.#core.push(new CoreSubscriber(this.#conn, dispatchSubjects(this.#address), this.#log, handle));
    } else {
      const o = this.#opts.jetstream!;
      this.#js = new JetStreamIntake(this.#conn, this.#log, {
        settings: {
          jobStream: o.jobStream,
          statusStream: o.statusStream,
          createStreams: o.createStreams,
          replicas: o.replicas,
          durable: durableName(this.#address),
          filterSubject: dispatchSubjects(this.#address)[0],
          ackWaitMs: o.ackWaitMs,
          maxDeliver: o.maxDeliver,
          maxAckPending: this.#scheduler.maxConcurrent + this.#scheduler.queueSize + 16,
        },
        statusSubject: this.#statusSubject,
        capacity: () => (this.#stopping ? 0 : this.#scheduler.freeSlots),
        handle,
        pullExpiresMs: o.pullExpiresMs,
      });
      await this.#js.start();
      // Progress acks keep held messages from being redelivered while their job runs or its status waits.
      this.#workingTimer = setInterval(() => this.#working(), Math.max(250, Math.floor(o.ackWaitMs / 3)));
    }
    await this.#conn.nc.flush();
    const interval = this.#opts.presenceIntervalMs ?? 15_000;
    if (interval > 0) {
      this.#presence = new Presence(this.#conn, this.#log, {
        subject: presenceSubject(this.#address),
        intervalMs: interval,
        provide: () => this.presence(),
      });
      this.#presence.start();
    }
    this.#publisher.kick();
    this.#log.info("Job intake started", { intake: this.#opts.intake, max_concurrent: this.#scheduler.maxConcurrent });
  }

  /** The presence beacon body. */
  presence(): Record<string, unknown> {
    return {
      agent_address: this.#address,
      timestamp: new Date().toISOString(),
      version: this.#opts.version ?? "unknown",
      intake: this.#opts.intake,
      gpus: [...this.#scheduler.gpuUuids],
      free_gpus: this.#scheduler.freeGpus,
      max_concurrent: this.#scheduler.maxConcurrent,
      free_slots: this.#scheduler.freeSlots,
      running_jobs: this.#scheduler.runningIds(),
      queued_jobs: this.#scheduler.queued,
      health: this.#opts.health?.() ?? null,
    };
  }

  /** Handles one job message. Synchronous up to the executor call, so duplicates cannot race each other. */
  handle(delivery: Delivery): void {
    if (this.#stopping) return delivery.nak();
    let parsed;
    try {
      parsed = parseJobMessage(delivery.data, { maxBytes: this.#opts.maxMessageBytes, checks: this.#opts.checks });
    } catch (error) {
      if (!(error instanceof InvalidJobError)) throw error;
      return this.#invalid(delivery, error);
    }
    const { job, canonicalFields } = parsed;
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
    if (admission === "queue_full") {
      if (this.#opts.intake === "jetstream") return delivery.nak(1000);
      log.warn("Job rejected: agent busy", { queued: this.#scheduler.queued });
      // Not journaled as finished: the dispatcher may send the same job again later.
      this.#journal.enqueueStatus(this.#status(job.jobId, 0, "failed", { reason: "rejected", message: "agent busy" }));
      this.#publisher.kick();
      return;
    }
    if (!rec) this.#journal.insertReceived(job.jobId, job);
    const attempt = this.#journal.accept(
      job.jobId,
      job,
      (a) => this.#status(job.jobId, a, "processing", { stage: "validated" }),
    );
    this.#active.set(job.jobId, { job, attempt, gpus, controller: new AbortController(), deliveries: [delivery] });
    this.#scheduler.enqueue(job.jobId, gpus);
    log.info("Job accepted", { attempt, image: job.imageName, gpus, signer: job.signer });
    this.#publisher.kick();
    this.#pump();
  }

  /**
   * Crash recovery, before {@linkcode start}: every job an earlier process left unfinished is handed back to the
   * executor with `resumeFrom` set (same attempt, same GPUs), so it ends with exactly one terminal status. A
   * redelivery of such a job meanwhile counts as a duplicate of a job in progress. Returns the recovered job ids.
   */
  recover(): string[] {
    const ids: string[] = [];
    for (const rec of this.#journal.listUnfinished()) {
      const log = this.#log.child({ job_id: rec.jobId, attempt: rec.attempt });
      if (!rec.job || rec.attempt === 0) {
        log.warn("Unfinished job without an accepted attempt: reporting agent_restart", { state: rec.state });
        this.#finish(
          rec.jobId,
          this.#status(rec.jobId, rec.attempt, "failed", {
            reason: "agent_restart",
            message: "The agent restarted before the job started",
          }),
        );
        continue;
      }
      const active: Active = {
        job: rec.job,
        attempt: rec.attempt,
        gpus: rec.gpuUuids.length,
        controller: new AbortController(),
        deliveries: [],
      };
      this.#active.set(rec.jobId, active);
      const gpus = this.#scheduler.reserve(rec.jobId, rec.gpuUuids);
      log.info("Recovering a job left unfinished by an earlier run", { state: rec.state, gpus });
      active.done = this.#run(rec.jobId, active, gpus, rec.state);
      ids.push(rec.jobId);
    }
    this.#publisher.kick();
    return ids;
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
   * Drains: stops intake, settles queued jobs (core: `failed`/`agent_shutdown`; JetStream: returned to the stream),
   * waits for running jobs until `deadlineMs`, then aborts them (`agent_shutdown`) and flushes statuses.
   */
  stop(deadlineMs: number): Promise<void> {
    // A second call (the agent's clean-up after its drain) waits for the first.
    this.#stopped ??= this.#stop(deadlineMs);
    return this.#stopped;
  }

  async #stop(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    this.#stopping = true;
    this.#presence?.stop();
    for (const s of this.#core.splice(0)) s.close();
    await this.#js?.stop();
    for (const jobId of this.#scheduler.queuedIds()) {
      const active = this.#active.get(jobId)!;
      this.#scheduler.dequeue(jobId);
      this.#active.delete(jobId);
      if (this.#opts.intake === "jetstream") {
        for (const d of active.deliveries) d.nak();
      } else {
        this.#finishActive(jobId, active, { status: "failed", reason: "agent_shutdown", message: "Agent stopped" });
      }
    }
    const running = () => [...this.#active.values()].map((a) => a.done).filter((p) => p !== undefined);
    await Promise.race([waitAll(running(), deadline - Date.now()), this.#hurry.promise]);
    for (const a of this.#active.values()) a.controller.abort(new JobAbort("agent_shutdown", "Agent stopped"));
    await waitAll(running(), this.#opts.abortWaitMs ?? 10_000);
    await this.#publisher.flush(Math.max(1000, deadline - Date.now()));
    clearInterval(this.#workingTimer);
    await this.#publisher.stop();
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
      this.#publisher.kick();
      return delivery.term("invalid job");
    }
    this.#log.warn("Invalid job", { job_id: jobId, error: error.message });
    this.#finishNow(jobId, 0, "invalid_job", error.message, delivery, "term");
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
    this.#publisher.kick();
  }

  #settleAfterStatus(jobId: string, delivery: Delivery, kind: "ack" | "term"): void {
    const list = this.#settle.get(jobId) ?? [];
    list.push({ delivery, kind });
    this.#settle.set(jobId, list);
    this.#publisher.kick();
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

  async #run(jobId: string, active: Active, gpuUuids: string[], resumeFrom?: JobState): Promise<void> {
    const log = this.#log.child({ job_id: jobId, attempt: active.attempt });
    const signal = active.controller.signal;
    let outcome: JobOutcome;
    try {
      if (!resumeFrom) this.#journal.markStarted(jobId, gpuUuids);
      log.info("Job started", { gpus: gpuUuids });
      outcome = await this.#executor.execute(active.job, {
        attempt: active.attempt,
        gpuUuids,
        signal,
        resumeFrom,
        progress: (stage) => {
          this.#journal.setState(jobId, stage);
          log.info("Job stage", { stage });
          return Promise.resolve();
        },
      });
    } catch (error) {
      outcome = { status: "failed", reason: "internal_error", message: (error as Error)?.message ?? String(error) };
      log.error("Executor failed", { error: error as Error });
    }
    if (signal.aborted && outcome.status === "failed" && signal.reason instanceof JobAbort) {
      outcome = { ...outcome, reason: signal.reason.reason, message: signal.reason.message };
    }
    this.#scheduler.release(jobId);
    this.#active.delete(jobId);
    this.#finishActive(jobId, active, outcome);
    const rec = this.#journal.get(jobId);
    log.info("Job finished", {
      status: outcome.status,
      ...(outcome.status === "completed"
        ? { output_cid: outcome.outputCid }
        : { reason: outcome.reason, message: outcome.message }),
      duration: rec ? `${(Math.max(0, Date.now() - rec.receivedAt) / 1000).toFixed(1)}s` : undefined,
    });
    this.#js?.wake();
    this.#pump();
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
    this.#publisher.kick();
  }

  /** Journals a terminal status (which queues it in the outbox) and reports it. */
  #finish(jobId: string, status: StatusMessage): void {
    this.#journal.finish(jobId, status);
    try {
      this.#opts.onTerminal?.(status);
    } catch (error) {
      this.#log.warn("onTerminal callback failed", { error: error as Error });
    }
  }

  #status(
    jobId: string,
    attempt: number,
    status: StatusMessage["status"],
    more: Omit<Parameters<typeof buildStatus>[0], "agentAddress" | "jobId" | "status" | "attempt"> = {},
  ): StatusMessage {
    return buildStatus({ agentAddress: this.#address, jobId, status, attempt, ...more });
  }

  #handleCancel(delivery: Delivery): void {
    const parsed = parseCancel(delivery.data, this.#opts.signers ?? []);
    if ("error" in parsed) return this.#log.warn("Cancel message ignored", { reason: parsed.error });
    const found = this.cancel(parsed.jobId);
    this.#log.info(found ? "Job cancel requested" : "Cancel for a job not queued or running ignored", {
      job_id: parsed.jobId,
    });
  }
}

function jobTimings(rec: JobRecord | undefined): StatusTimings {
  const now = Date.now();
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

async function waitAll(promises: Promise<void>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise<void>((r) => timer = setTimeout(r, Math.max(0, ms))),
  ]);
  clearTimeout(timer);
}
