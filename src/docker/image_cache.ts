/**
 * Images as a managed cache: one pull per image however many jobs wait for it, a lease while a job uses one, and
 * removal of the images this agent pulled, least recently used first, when Docker's disk passes a high watermark or
 * their total passes a cap (kubelet's image garbage collection, restricted to what the agent itself brought).
 */
import { type DiskUsage, diskUsage } from "../disk_usage.ts";
import type { Logger } from "../log/mod.ts";
import { formatBytes } from "../log/mod.ts";
import { type DockerClient, DockerError } from "./client.ts";
import { DiskSpaceError, ImagePullError } from "./errors.ts";
import { allowlistMatches, type ImageInfo, inspectImage, type PullProgressReport } from "./images.ts";
import { parseImageReference, qualifiedName } from "./reference.ts";
import type { ImageRecord, ImageStore } from "./image_store.ts";

export { type DiskUsage, diskUsage };

/** When images are removed. */
export interface ImageGcPolicy {
  /** Above this usage of the data root's filesystem, removal starts (IMAGE_GC_HIGH_PERCENT). */
  highPercent: number;
  /** Removal stops at or below this usage (IMAGE_GC_LOW_PERCENT). */
  lowPercent: number;
  /** Most bytes of pulled images kept (IMAGE_CACHE_MAX_BYTES); undefined: no cap. */
  maxBytes?: number;
  /** An image pulled or used more recently than this stays (IMAGE_GC_MIN_AGE). */
  minAgeMs: number;
  /** Never removed: IMAGE_ALLOWLIST-style entries (IMAGE_KEEP). */
  keep: string[];
}

/** Why an image was removed. */
export type RemovalReason = "disk_high" | "cache_cap";

/** One removal by {@linkcode ImageCache.collect}. */
export interface ImageRemoval {
  ref: string;
  reason: RemovalReason;
  sizeBytes: number;
}

/** Options of {@linkcode ImageCache}. */
export interface ImageCacheOptions {
  client: DockerClient;
  store: ImageStore;
  /** Checks policy, inspects, and pulls when missing: `ensureImage` bound to the agent's settings. */
  ensure: (
    image: string,
    options: {
      signal: AbortSignal;
      jobId?: string;
      onProgress?: (p: PullProgressReport) => void;
    },
  ) => Promise<ImageInfo>;
  logger: Logger;
  gc: ImageGcPolicy;
  /** Docker's data root; undefined turns the watermarks off (the cap still applies). */
  dataRoot?: string;
  /** Reads a filesystem's usage (tests simulate a disk). */
  usage?: (path: string) => Promise<DiskUsage>;
  now?: () => number;
  /** Called for every removal (metrics). */
  onRemoved?: (removal: ImageRemoval) => void;
  /** Called for every pull that ran: `pulled`, or `failed` (a pull error or no room). */
  onPull?: (result: "pulled" | "failed") => void;
}

/** An image held for one job: it is not removed until `release()`. */
export interface ImageLease {
  info: ImageInfo;
  release(): void;
}

/**
 * Pulled layers take about this many times their compressed size once extracted (the compressed blob and the
 * extracted layer are both on disk while a layer is being extracted).
 */
export const EXTRACTED_FACTOR = 2;

interface Flight {
  promise: Promise<ImageInfo>;
  controller: AbortController;
  waiters: number;
  settled: boolean;
  /** Every waiting job's progress listener: one pull, shown to each job that waits for it. */
  listeners: Set<(p: PullProgressReport) => void>;
}

/** The agent's images: shared pulls, leases, garbage collection. */
export class ImageCache {
  #o: ImageCacheOptions;
  #log: Logger;
  #now: () => number;
  #usage: (path: string) => Promise<DiskUsage>;
  #flights = new Map<string, Flight>();
  #leases = new Map<string, number>();
  #kept = new Set<string>();
  #collecting?: Promise<ImageRemoval[]>;
  #lastUsage?: DiskUsage;

  constructor(options: ImageCacheOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "images" });
    this.#now = options.now ?? Date.now;
    this.#usage = options.usage ?? diskUsage;
  }

  /** Docker's data root whose filesystem the watermarks measure, if known. */
  get dataRoot(): string | undefined {
    return this.#o.dataRoot;
  }

  /**
   * The image for a job, pulled when missing. Jobs asking for the same reference at the same time share one pull;
   * the pull is cancelled only when every job waiting for it is. Throws what `ensure` throws (policy, pull errors),
   * {@linkcode DiskSpaceError} when the pull cannot fit, or the signal's reason.
   */
  async acquire(
    image: string,
    options: { signal?: AbortSignal; jobId?: string; onProgress?: (p: PullProgressReport) => void } = {},
  ): Promise<ImageLease> {
    const canonical = canonicalOf(image);
    let flight = this.#flights.get(canonical);
    if (!flight || flight.controller.signal.aborted) flight = this.#start(canonical, image, options.jobId);
    flight.waiters++;
    const listener = options.onProgress;
    if (listener) flight.listeners.add(listener);
    let info: ImageInfo;
    try {
      info = await raceSignal(flight.promise, options.signal);
    } finally {
      if (listener) flight.listeners.delete(listener);
      flight.waiters--;
      if (flight.waiters === 0 && !flight.settled) {
        flight.controller.abort(options.signal?.reason);
        if (this.#flights.get(canonical) === flight) this.#flights.delete(canonical);
      }
    }
    // Held before anything else can run: a collection in between must see it in use.
    this.#leases.set(info.id, (this.#leases.get(info.id) ?? 0) + 1);
    this.#o.store.used(canonical, this.#now(), info.id);
    let released = false;
    return {
      info,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.#leases.get(info.id) ?? 1) - 1;
        if (n > 0) this.#leases.set(info.id, n);
        else this.#leases.delete(info.id);
        this.#o.store.used(canonical, this.#now());
      },
    };
  }

  /**
   * Pulls `images` one after another in the background and keeps them (never collected); failures are logged.
   * Resolves when all are done.
   */
  async prepull(images: string[], signal?: AbortSignal): Promise<void> {
    for (const image of images) this.#kept.add(canonicalOf(image));
    for (const image of images) {
      if (signal?.aborted) return;
      const t0 = performance.now();
      try {
        const lease = await this.acquire(image, { signal });
        lease.release();
        this.#log.info(lease.info.pulled ? "Pre-pulled image" : "Pre-pull: image already present", {
          image,
          size: formatBytes(lease.info.sizeBytes),
          seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
        });
      } catch (error) {
        if (signal?.aborted) return;
        this.#log.warn("Pre-pull failed", { image, error: error as Error });
      }
    }
  }

  /** Bytes of the images the agent pulled that are still present (each image id counted once). */
  cachedBytes(): number {
    return distinctBytes(this.#o.store.all());
  }

  /** How many image references the agent pulled and still tracks. */
  cachedImages(): number {
    return this.#o.store.all().length;
  }

  /** The data root's usage, or undefined when it is unknown or unreadable. */
  async usage(): Promise<DiskUsage | undefined> {
    if (!this.#o.dataRoot) return undefined;
    try {
      return this.#lastUsage = await this.#usage(this.#o.dataRoot);
    } catch {
      return undefined;
    }
  }

  /** The data root's usage as last read (by a collection or a pull). */
  get lastUsage(): DiskUsage | undefined {
    return this.#lastUsage;
  }

  /**
   * Removes unused images the agent pulled, least recently used first: while their total is over the cap, and, when
   * the data root is above the high watermark, until it is at or below the low one. Never removed: one a job holds
   * or any container uses, one pulled or used within the minimum age, a kept or pre-pulled one, one the agent did not
   * pull. One collection at a time; a call during one waits for it.
   */
  collect(trigger: string): Promise<ImageRemoval[]> {
    this.#collecting ??= this.#collect(trigger).finally(() => this.#collecting = undefined);
    return this.#collecting;
  }

  #start(canonical: string, image: string, jobId?: string): Flight {
    const controller = new AbortController();
    const flight: Flight = { controller, waiters: 0, settled: false, promise: undefined!, listeners: new Set() };
    flight.promise = (async () => {
      try {
        return await this.#pull(canonical, image, controller.signal, flight.listeners, jobId);
      } finally {
        flight.settled = true;
        if (this.#flights.get(canonical) === flight) this.#flights.delete(canonical);
      }
    })();
    // A flight nobody waits for any more is not an unhandled rejection.
    flight.promise.catch(() => {});
    this.#flights.set(canonical, flight);
    return flight;
  }

  async #pull(
    canonical: string,
    image: string,
    signal: AbortSignal,
    listeners: Set<(p: PullProgressReport) => void>,
    jobId?: string,
  ): Promise<ImageInfo> {
    // Room first: above the high watermark, unused images go before this one comes.
    let usage = await this.usage();
    if (usage && usage.usedPercent > this.#o.gc.highPercent) {
      await this.collect("pull").catch((error) => this.#log.warn("Image collection failed", { error }));
      usage = await this.usage();
    }
    const free = usage?.freeBytes;
    const info = await this.#o.ensure(image, {
      signal,
      jobId,
      onProgress: (announced) => {
        for (const listener of listeners) {
          try {
            listener(announced);
          } catch (error) {
            this.#log.debug("Pull progress listener failed", { error: error as Error });
          }
        }
        if (free === undefined) return;
        const need = announced.totalBytes * EXTRACTED_FACTOR;
        if (need > free) {
          throw new DiskSpaceError(
            `image ${canonical} does not fit on this node: its layers need about ${formatBytes(need)} ` +
              `(${formatBytes(announced.totalBytes)} compressed) and Docker's disk has ${formatBytes(free)} free`,
          );
        }
      },
    }).catch((error) => {
      if (error instanceof ImagePullError || error instanceof DiskSpaceError) this.#o.onPull?.("failed");
      if (!(error instanceof DiskSpaceError)) throw error;
      // Room may be made: the next job that needs it will find the space.
      void this.collect("disk_full").catch(() => {});
      throw error;
    });
    if (info.pulled) {
      this.#o.onPull?.("pulled");
      const now = this.#now();
      this.#o.store.pulled({
        ref: canonical,
        imageId: info.id,
        sizeBytes: info.sizeBytes,
        pulledAt: now,
        lastUsedAt: now,
      });
    }
    return info;
  }

  async #collect(trigger: string): Promise<ImageRemoval[]> {
    const removals: ImageRemoval[] = [];
    const { gc, client, store } = this.#o;
    // Forget what is gone (removed by hand), and follow a tag that now names another image.
    for (const rec of store.all()) {
      const found = await inspectImage(client, rec.ref);
      if (!found) store.remove(rec.ref);
      else if (found.Id !== rec.imageId) store.pulled({ ...rec, imageId: found.Id, sizeBytes: found.Size ?? 0 });
    }
    const used = new Set(this.#leases.keys());
    const containers = await client.json<{ ImageID?: string }[]>("GET", "/containers/json", { query: { all: "true" } });
    for (const c of containers) if (c.ImageID) used.add(c.ImageID);
    const now = this.#now();
    const candidates = store.all().filter((r) =>
      !used.has(r.imageId) && !this.#keeps(r.ref) && now - Math.max(r.pulledAt, r.lastUsedAt) >= gc.minAgeMs
    );
    const next = async (reason: RemovalReason): Promise<boolean> => {
      const rec = candidates.shift();
      if (!rec) return false;
      const removed = await this.#remove(rec, reason, trigger);
      if (removed) removals.push(removed);
      return true;
    };
    if (gc.maxBytes !== undefined) {
      while (distinctBytes(store.all()) > gc.maxBytes) if (!await next("cache_cap")) break;
      if (distinctBytes(store.all()) > gc.maxBytes) {
        this.#log.warn("Pulled images exceed IMAGE_CACHE_MAX_BYTES, but none of them may be removed now", {
          bytes: distinctBytes(store.all()),
          max_bytes: gc.maxBytes,
        });
      }
    }
    let usage = await this.usage();
    if (usage && usage.usedPercent > gc.highPercent) {
      this.#log.info("Docker's disk is above IMAGE_GC_HIGH_PERCENT: removing unused images", {
        used_percent: round(usage.usedPercent),
        high_percent: gc.highPercent,
        low_percent: gc.lowPercent,
        candidates: candidates.length,
      });
      while (usage && usage.usedPercent > gc.lowPercent) {
        if (!await next("disk_high")) break;
        usage = await this.usage();
      }
      if (usage && usage.usedPercent > gc.lowPercent) {
        this.#log.warn("Docker's disk stays above IMAGE_GC_LOW_PERCENT: no more images may be removed", {
          used_percent: round(usage.usedPercent),
          low_percent: gc.lowPercent,
        });
      }
    }
    return removals;
  }

  async #remove(rec: ImageRecord, reason: RemovalReason, trigger: string): Promise<ImageRemoval | undefined> {
    try {
      // By reference: other tags of the same image (not the agent's) keep it.
      await this.#o.client.send("DELETE", `/images/${rec.ref}`, { okStatuses: [404] });
    } catch (error) {
      if (error instanceof DockerError && error.status === 409) {
        this.#log.debug("Image in use, not removed", { image: rec.ref });
        return undefined;
      }
      this.#log.warn("Cannot remove image", { image: rec.ref, error: error as Error });
      return undefined;
    }
    this.#o.store.remove(rec.ref);
    const removal = { ref: rec.ref, reason, sizeBytes: rec.sizeBytes };
    this.#log.info("Removed image", {
      image: rec.ref,
      reason,
      trigger,
      size: formatBytes(rec.sizeBytes),
      last_used: new Date(rec.lastUsedAt).toISOString(),
    });
    this.#o.onRemoved?.(removal);
    return removal;
  }

  #keeps(ref: string): boolean {
    if (this.#kept.has(ref)) return true;
    const parsed = parseImageReference(ref);
    return this.#o.gc.keep.some((entry) => allowlistMatches(parsed, entry));
  }
}

/**
 * One name per image reference, however it is written: registry and `library/` made explicit, Docker Hub's aliases
 * folded, `:latest` when no tag or digest is given (`busybox` → `docker.io/library/busybox:latest`).
 */
export function canonicalOf(image: string): string {
  try {
    const ref = parseImageReference(image);
    const name = qualifiedName(ref).replace(/^(index\.docker\.io|registry-1\.docker\.io)\//, "docker.io/");
    return name + (ref.tag ? `:${ref.tag}` : ref.digest ? "" : ":latest") + (ref.digest ? `@${ref.digest}` : "");
  } catch {
    return image; // `ensure` refuses it with the parser's own message
  }
}

function distinctBytes(records: ImageRecord[]): number {
  const sizes = new Map<string, number>();
  for (const r of records) sizes.set(r.imageId, r.sizeBytes);
  let total = 0;
  for (const n of sizes.values()) total += n;
  return total;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function raceSignal<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
