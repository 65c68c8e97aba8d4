/**
 * Slots and GPUs: at most `maxConcurrent` jobs run at once; a job asking for N GPUs waits for N free ones, assigned
 * by UUID; waiting jobs sit in a bounded FIFO queue. Strict FIFO: a big job at the head is never starved by small ones.
 */

/**
 * Accepted jobs that may wait for a slot by default: a burst a dispatcher sends at once waits instead of being turned
 * away (the deployed dispatcher reads no statuses, so a refused core job is lost). A queued job holds its parsed
 * message (at most JOB_MAX_MESSAGE_SIZE, typically under 1 KiB) in memory and one journal row, and nothing else until
 * it starts: no input, image or container. 256 × 64 KiB bounds it at 16 MiB.
 */
export const DEFAULT_JOB_QUEUE_SIZE = 256;

/** Options for {@linkcode Scheduler}. */
export interface SchedulerOptions {
  /** GPU UUIDs of the host (or CPU-mode pseudo ids `cpu-0`, …). */
  gpuUuids: string[];
  /** Default: {@linkcode defaultMaxConcurrent}. */
  maxConcurrent?: number;
  /** Jobs that may wait for resources; default {@linkcode DEFAULT_JOB_QUEUE_SIZE}. */
  queueSize?: number;
}

/** What {@linkcode Scheduler.check} says about a new job. */
export type Admission = "ok" | "queue_full" | "too_many_gpus" | "gpus_unhealthy";

/** A job admitted to run, with its GPUs. */
export interface Admitted {
  jobId: string;
  gpuUuids: string[];
}

/** The default concurrency: one job per GPU id (at least one). */
export function defaultMaxConcurrent(gpuUuids: readonly string[]): number {
  return Math.max(1, gpuUuids.length);
}

/** The in-memory scheduler; the journal, not this, is the durable record. */
export class Scheduler {
  readonly gpuUuids: readonly string[];
  readonly maxConcurrent: number;
  readonly queueSize: number;
  #free: string[];
  #queue: { jobId: string; gpus: number }[] = [];
  #running = new Map<string, string[]>();
  #drained = new Set<string>();

  constructor(options: SchedulerOptions) {
    this.gpuUuids = [...options.gpuUuids];
    this.maxConcurrent = options.maxConcurrent ?? defaultMaxConcurrent(options.gpuUuids);
    this.queueSize = options.queueSize ?? DEFAULT_JOB_QUEUE_SIZE;
    if (!Number.isInteger(this.maxConcurrent) || this.maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a positive integer, got ${this.maxConcurrent}`);
    }
    this.#free = [...this.gpuUuids];
  }

  /** GPUs a job gets when it does not say: one when the host has any. */
  gpusFor(requested: number | undefined): number {
    return requested ?? (this.gpuUuids.length > 0 ? 1 : 0);
  }

  /** Whether a job asking for `gpus` can be queued now. */
  check(gpus: number): Admission {
    if (gpus > this.gpuUuids.length) return "too_many_gpus";
    if (gpus > this.gpuUuids.length - this.#drained.size) return "gpus_unhealthy";
    if (this.#queue.length >= this.queueSize) return "queue_full";
    return "ok";
  }

  /** Queues a job (call {@linkcode check} first); admitted jobs come out of {@linkcode admit}. */
  enqueue(jobId: string, gpus: number): void {
    if (this.has(jobId)) throw new Error(`Job ${jobId} is already scheduled`);
    this.#queue.push({ jobId, gpus });
  }

  /** Takes queued jobs from the head while a slot and enough GPUs are free. */
  admit(): Admitted[] {
    const out: Admitted[] = [];
    while (this.#queue.length > 0 && this.#running.size < this.maxConcurrent) {
      const head = this.#queue[0];
      const usable = this.#free.filter((g) => !this.#drained.has(g));
      if (head.gpus > usable.length) break;
      this.#queue.shift();
      const gpus = usable.slice(0, head.gpus);
      this.#free = this.#free.filter((g) => !gpus.includes(g));
      this.#running.set(head.jobId, gpus);
      out.push({ jobId: head.jobId, gpuUuids: gpus });
    }
    return out;
  }

  /**
   * Marks a job as running on the given GPUs without queueing it (crash recovery: the job's container already holds
   * them). GPUs this host no longer has are dropped; returns the GPUs actually reserved.
   */
  reserve(jobId: string, gpuUuids: readonly string[]): string[] {
    if (this.has(jobId)) throw new Error(`Job ${jobId} is already scheduled`);
    const gpus = gpuUuids.filter((g) => this.#free.includes(g));
    this.#free = this.#free.filter((g) => !gpus.includes(g));
    this.#running.set(jobId, gpus);
    return gpus;
  }

  /** Removes a queued (not running) job; returns whether it was queued. */
  dequeue(jobId: string): boolean {
    const i = this.#queue.findIndex((q) => q.jobId === jobId);
    if (i < 0) return false;
    this.#queue.splice(i, 1);
    return true;
  }

  /** Frees a running job's slot and GPUs. */
  release(jobId: string): void {
    const gpus = this.#running.get(jobId);
    if (!gpus) return;
    this.#running.delete(jobId);
    // Keep the host's GPU order so assignment stays predictable.
    this.#free = this.gpuUuids.filter((g) => this.#free.includes(g) || gpus.includes(g));
  }

  /** Whether a job is queued or running here. */
  has(jobId: string): boolean {
    return this.#running.has(jobId) || this.#queue.some((q) => q.jobId === jobId);
  }

  /** Whether a job is running. */
  isRunning(jobId: string): boolean {
    return this.#running.has(jobId);
  }

  /** Ids of queued jobs, head first. */
  queuedIds(): string[] {
    return this.#queue.map((q) => q.jobId);
  }

  /** Ids of running jobs. */
  runningIds(): string[] {
    return [...this.#running.keys()];
  }

  /** Running job count. */
  get running(): number {
    return this.#running.size;
  }

  /** Queued job count. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Slots not taken by running or queued jobs (what JetStream intake may pull); while GPUs are drained, no more than
   * the healthy free GPUs can serve.
   */
  get freeSlots(): number {
    const slots = Math.max(0, this.maxConcurrent - this.#running.size - this.#queue.length);
    if (this.#drained.size === 0) return slots;
    const healthyFree = this.#free.filter((g) => !this.#drained.has(g)).length;
    return Math.min(slots, Math.max(0, healthyFree - this.#queue.length));
  }

  /** GPU ids not assigned to a running job and not drained. */
  get freeGpus(): string[] {
    return this.#free.filter((g) => !this.#drained.has(g));
  }

  /** GPU ids drained for their health: no new job gets them. */
  get drainedGpus(): string[] {
    return this.gpuUuids.filter((g) => this.#drained.has(g));
  }

  /** Replaces the set of drained GPUs (unknown ids are ignored); call `admit()` after, as GPUs may have come back. */
  setDrained(ids: Iterable<string>): void {
    this.#drained = new Set([...ids].filter((g) => this.gpuUuids.includes(g)));
  }

  /** Running jobs holding any of `gpuIds`. */
  jobsOn(gpuIds: Iterable<string>): string[] {
    const wanted = new Set(gpuIds);
    return [...this.#running].filter(([, gpus]) => gpus.some((g) => wanted.has(g))).map(([id]) => id);
  }
}
