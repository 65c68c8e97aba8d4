/** The agent's Prometheus metrics (prom-client), one registry per agent. */
import client from "prom-client";

/** Snapshot providers read when /metrics is scraped. */
export interface MetricSources {
  runningJobs?(): number;
  freeSlots?(): number;
  natsConnected?(): boolean;
  walletBalanceWei?(): bigint | undefined;
  /** Heartbeats the balance pays for at the last heartbeat's cost cap, once known. */
  heartbeatsLeft?(): bigint | undefined;
  lastHeartbeatAt?(): Date | undefined;
  /** Totals of the heartbeat loop: transactions sent (replacements included) and failed steps. */
  heartbeats?(): { sent: number; failures: number };
  gpus?(): { uuid: string; temperatureC?: number; utilizationPct?: number }[];
  /** File bytes in the input cache; undefined until it was first read. */
  inputCacheBytes?(): number | undefined;
  /** Bytes and count of the images the agent pulled and still keeps. */
  imageCache?(): { bytes: number; images: number };
  /** Each GPU's health verdict and its current conditions. */
  gpuHealth?(): { id: string; healthy: boolean; conditions: { code: string; severity: string }[] }[];
  /** Used percent of Docker's data root filesystem (last read), undefined when unknown. */
  dockerDiskUsedPercent?(): number | undefined;
}

/** Transfer directions counted in bytes and seconds. */
export type TransferKind = "pull" | "download" | "upload";

/** Every metric the agent exports, named `lamda_*`. */
export class AgentMetrics {
  readonly registry = new client.Registry();
  readonly jobs: client.Counter<"status" | "reason">;
  readonly jobDuration: client.Histogram<"status">;
  readonly transferBytes: client.Counter<"kind">;
  readonly transferSeconds: client.Counter<"kind">;
  readonly inputCacheHits: client.Counter;
  readonly inputCacheMisses: client.Counter;
  readonly imageRemovals: client.Counter<"reason">;
  readonly imagePulls: client.Counter<"result">;
  readonly imageRemovedBytes: client.Counter;
  #sources: MetricSources = {};

  constructor() {
    const registers = [this.registry];
    this.jobs = new client.Counter({
      name: "lamda_jobs_total",
      help: "Jobs that reached a terminal status, by status and failure reason.",
      labelNames: ["status", "reason"] as const,
      registers,
    });
    this.jobDuration = new client.Histogram({
      name: "lamda_job_duration_seconds",
      help: "Wall time from receipt to terminal status.",
      labelNames: ["status"] as const,
      buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600],
      registers,
    });
    this.transferBytes = new client.Counter({
      name: "lamda_transfer_bytes_total",
      help: "Bytes moved: image pulls, input downloads, output uploads.",
      labelNames: ["kind"] as const,
      registers,
    });
    this.transferSeconds = new client.Counter({
      name: "lamda_transfer_seconds_total",
      help: "Seconds spent moving bytes, by kind.",
      labelNames: ["kind"] as const,
      registers,
    });
    this.inputCacheHits = new client.Counter({
      name: "lamda_input_cache_hits_total",
      help:
        "Job inputs served without a fetch of their own: from the input cache, or another job's fetch of the same CID.",
      registers,
    });
    this.inputCacheMisses = new client.Counter({
      name: "lamda_input_cache_misses_total",
      help: "Job inputs fetched from a gateway while the input cache is enabled.",
      registers,
    });
    this.imageRemovals = new client.Counter({
      name: "lamda_image_removals_total",
      help:
        "Images the agent removed, by reason (disk_high: above IMAGE_GC_HIGH_PERCENT; cache_cap: over IMAGE_CACHE_MAX_BYTES).",
      labelNames: ["reason"] as const,
      registers,
    });
    this.imageRemovedBytes = new client.Counter({
      name: "lamda_image_removed_bytes_total",
      help: "Bytes of the images the agent removed.",
      registers,
    });
    this.imagePulls = new client.Counter({
      name: "lamda_image_pulls_total",
      help: "Image pulls the agent ran (one per image however many jobs waited), by result.",
      labelNames: ["result"] as const,
      registers,
    });
    const sources = () => this.#sources;
    const heartbeatCounter = (name: string, help: string, read: (h: { sent: number; failures: number }) => number) =>
      new client.Counter({
        name,
        help,
        registers,
        collect() {
          const h = sources().heartbeats?.();
          this.reset();
          if (h) this.inc(read(h));
        },
      });
    heartbeatCounter(
      "lamda_heartbeat_transactions_total",
      "Heartbeat transactions sent, replacements included.",
      (h) => h.sent,
    );
    heartbeatCounter("lamda_heartbeat_failures_total", "Heartbeat loop steps that failed.", (h) => h.failures);
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          const v = read();
          if (v === undefined) this.reset();
          else this.set(v);
        },
      });
    gauge("lamda_jobs_running", "Jobs running now.", () => this.#sources.runningJobs?.());
    gauge("lamda_slots_free", "Job slots free now.", () => this.#sources.freeSlots?.());
    gauge("lamda_nats_connected", "1 while connected to NATS.", () => {
      const c = this.#sources.natsConnected?.();
      return c === undefined ? undefined : c ? 1 : 0;
    });
    gauge("lamda_wallet_balance_bnb", "Node wallet balance (last read).", () => {
      const wei = this.#sources.walletBalanceWei?.();
      return wei === undefined ? undefined : Number(wei) / 1e18;
    });
    gauge(
      "lamda_wallet_heartbeats_left",
      "Heartbeats the wallet balance pays for at the last heartbeat's cost cap (last read).",
      () => {
        const n = this.#sources.heartbeatsLeft?.();
        return n === undefined ? undefined : Number(n);
      },
    );
    gauge("lamda_last_heartbeat_timestamp_seconds", "Unix time of the last mined heartbeat.", () => {
      const at = this.#sources.lastHeartbeatAt?.();
      return at ? at.getTime() / 1000 : undefined;
    });
    gauge("lamda_input_cache_bytes", "File bytes kept in the input cache.", () => this.#sources.inputCacheBytes?.());
    gauge(
      "lamda_image_cache_bytes",
      "Bytes of the images the agent pulled and keeps (each image counted once).",
      () => this.#sources.imageCache?.().bytes,
    );
    gauge(
      "lamda_image_cache_images",
      "Image references the agent pulled and keeps.",
      () => this.#sources.imageCache?.().images,
    );
    gauge(
      "lamda_docker_disk_used_ratio",
      "Used share of the filesystem holding Docker's data root, 0 to 1 (last read).",
      () => {
        const pct = this.#sources.dockerDiskUsedPercent?.();
        return pct === undefined ? undefined : pct / 100;
      },
    );
    new client.Gauge({
      name: "lamda_process_memory_bytes",
      help: "The agent process's memory: rss (resident), heap_used and heap_total (V8), external (buffers).",
      labelNames: ["kind"] as const,
      registers,
      collect() {
        const m = Deno.memoryUsage();
        this.set({ kind: "rss" }, m.rss);
        this.set({ kind: "heap_used" }, m.heapUsed);
        this.set({ kind: "heap_total" }, m.heapTotal);
        this.set({ kind: "external" }, m.external);
      },
    });
    new client.Gauge({
      name: "lamda_gpu_temperature_celsius",
      help: "GPU temperature.",
      labelNames: ["uuid"] as const,
      registers,
      collect() {
        this.reset();
        for (const g of sources().gpus?.() ?? []) {
          if (g.temperatureC !== undefined) this.set({ uuid: g.uuid }, g.temperatureC);
        }
      },
    });
    new client.Gauge({
      name: "lamda_gpu_healthy",
      help: "1 while a GPU (or MIG instance) takes jobs, 0 while it is drained for its health.",
      labelNames: ["uuid"] as const,
      registers,
      collect() {
        this.reset();
        for (const g of sources().gpuHealth?.() ?? []) this.set({ uuid: g.id }, g.healthy ? 1 : 0);
      },
    });
    new client.Gauge({
      name: "lamda_gpu_condition",
      help: "1 for each condition a GPU shows now (fatal ones drain it; warnings do not).",
      labelNames: ["uuid", "condition", "severity"] as const,
      registers,
      collect() {
        this.reset();
        for (const g of sources().gpuHealth?.() ?? []) {
          for (const c of g.conditions) this.set({ uuid: g.id, condition: c.code, severity: c.severity }, 1);
        }
      },
    });
    new client.Gauge({
      name: "lamda_gpu_utilization_ratio",
      help: "GPU utilization, 0 to 1.",
      labelNames: ["uuid"] as const,
      registers,
      collect() {
        this.reset();
        for (const g of sources().gpus?.() ?? []) {
          if (g.utilizationPct !== undefined) this.set({ uuid: g.uuid }, g.utilizationPct / 100);
        }
      },
    });
  }

  /** Sets (or replaces) the snapshot providers. */
  observe(sources: MetricSources): void {
    this.#sources = { ...this.#sources, ...sources };
  }

  /** Records a terminal job. */
  jobFinished(status: "completed" | "failed", reason: string | undefined, seconds: number): void {
    this.jobs.inc({ status, reason: reason ?? "" });
    this.jobDuration.observe({ status }, seconds);
  }

  /** Records a transfer counted when it ended (bytes and seconds together). */
  transfer(kind: TransferKind, bytes: number, seconds: number): void {
    this.transferBytes.inc({ kind }, bytes);
    this.transferSeconds.inc({ kind }, seconds);
  }

  /** A byte counter to call as bytes move, so `lamda_transfer_bytes_total` rises during a long transfer. */
  bytesMoved(kind: TransferKind): (bytes: number) => void {
    const counter = this.transferBytes.labels({ kind });
    return (bytes) => {
      if (bytes > 0) counter.inc(bytes);
    };
  }

  /** Counts one image removal. */
  imageRemoved(reason: string, bytes: number): void {
    this.imageRemovals.inc({ reason });
    this.imageRemovedBytes.inc(bytes);
  }

  /** Counts one job input: `hit` when it was served without a fetch of its own. */
  inputCacheLookup(hit: boolean): void {
    (hit ? this.inputCacheHits : this.inputCacheMisses).inc();
  }

  /** Records the time of a transfer whose bytes {@linkcode bytesMoved} already counted. */
  transferTime(kind: TransferKind, seconds: number): void {
    this.transferSeconds.inc({ kind }, seconds);
  }

  /** The Prometheus text exposition. */
  async render(): Promise<string> {
    return await this.registry.metrics();
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
