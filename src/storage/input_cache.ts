/**
 * The input cache: verified inputs kept in `DATA_DIR/cache/<CIDv1>/` and mounted read-only into later jobs, bounded by
 * INPUT_CACHE_MAX_BYTES with least-recently-used eviction. The one owner of the cache's state: which entries exist,
 * which are in use, which fetch is under way. An input enters only complete: it is fetched into a staging directory,
 * sealed read-only, given its marker, then renamed into place. Every use re-checks the entry against its marker; a
 * broken one is dropped and fetched again, never mounted. Jobs wanting the same CID at once share one fetch.
 */
import { join } from "node:path";
import type { Logger } from "../log/mod.ts";
import { parseCid } from "./block_verify.ts";
import {
  type CacheMarker,
  checkEntry,
  DATA_NAME,
  listTree,
  readMarker,
  removeTree,
  sealTree,
  writeMarker,
} from "./cache_entry.ts";
import { StorageError } from "./errors.ts";

/** Fetches (and verifies) an input into `dir`, an empty directory. */
export type InputFetcher = (dir: string, signal: AbortSignal) => Promise<{ bytes: number }>;

/** How a job got its input. */
export type InputSource =
  /** From a cache entry, no request made. */
  | "cache"
  /** From a fetch another job had started (this one waited for it). */
  | "shared"
  /** Fetched for this job. */
  | "fetched"
  /** Fetched into the job's own directory: the cache is disabled. */
  | "direct";

/** An input ready to mount; release it once no container uses it any more. */
export interface InputLease {
  /** The host directory to mount read-only at `/input`. */
  dir: string;
  source: InputSource;
  /** Whether `dir` is a cache entry (kept after release) rather than the job's own input directory. */
  cached: boolean;
  /** File bytes of the input. */
  bytes: number;
  release(): void;
}

/** Options of {@linkcode InputCache}. */
export interface InputCacheOptions {
  /** The cache directory (`DATA_DIR/cache`). */
  dir: string;
  /** Most file bytes kept (INPUT_CACHE_MAX_BYTES); 0 disables the cache. */
  maxBytes: number;
  logger: Logger;
}

/** Options of one {@linkcode InputCache.acquire}. */
export interface AcquireOptions {
  /** The job's own (empty) input directory: used when the cache is disabled or the input does not fit in it. */
  fallbackDir: string;
  fetch: InputFetcher;
  signal?: AbortSignal;
}

interface Entry {
  key: string;
  root: string;
  marker: CacheMarker;
  lastUsed: number;
  dropped?: boolean;
}

interface Waiter {
  fallbackDir: string;
  own: boolean;
  resolve(lease: InputLease | "retry"): void;
  reject(error: unknown): void;
}

interface Flight {
  controller: AbortController;
  waiters: Set<Waiter>;
}

/** Verified inputs kept for later jobs, keyed by root CID. */
export class InputCache {
  readonly dir: string;
  #max: number;
  #log: Logger;
  #entries = new Map<string, Entry>();
  #holds = new Map<string, number>();
  /** Dropped entries still mounted by a job: deleted when the last hold on their key goes. */
  #trash = new Map<string, string[]>();
  /** Renames of dropped entries under way, by key: a new entry of that key waits for its name to be free. */
  #dropping = new Map<string, Promise<void>>();
  #pending = new Set<Promise<void>>();
  #flights = new Map<string, Flight>();
  #bytes = 0;
  #ready?: Promise<void>;
  #loaded = false;

  constructor(options: InputCacheOptions) {
    this.dir = options.dir;
    this.#max = options.maxBytes;
    this.#log = options.logger.child({ component: "input_cache" });
  }

  /** Whether inputs are kept (INPUT_CACHE_MAX_BYTES > 0, and the cache directory could be read). */
  get enabled(): boolean {
    return this.#max > 0;
  }

  /** File bytes in the cache; undefined until the cache has been read from disk (its first use). */
  bytes(): number | undefined {
    return this.#loaded ? this.#bytes : undefined;
  }

  /**
   * The input `cid`, ready to mount: a cache entry when there is a sound one, else fetched (once, whoever else waits
   * for the same CID) and kept when it fits. Fetch errors are the fetcher's; an abort of `signal` leaves the shared
   * fetch running for the other jobs waiting on it.
   */
  async acquire(cid: string, options: AcquireOptions): Promise<InputLease> {
    const key = cacheKey(cid);
    await this.#load();
    if (!this.enabled) {
      const signal = options.signal ?? new AbortController().signal;
      const { bytes } = await options.fetch(options.fallbackDir, signal);
      return { dir: options.fallbackDir, source: "direct", cached: false, bytes, release: () => {} };
    }
    while (true) {
      if (options.signal?.aborted) throw aborted(options.signal);
      let flight = this.#flights.get(key);
      let own = false;
      if (!flight) {
        const hit = await this.#hit(key);
        if (hit) return hit;
        flight = this.#flights.get(key);
        if (!flight) {
          flight = this.#start(key, cid, options.fetch);
          own = true;
        }
      }
      const got = await this.#wait(flight, key, own, options);
      if (got !== "retry") return got;
    }
  }

  /**
   * Keeps the entry of `cid` from eviction while a container re-attached after a restart may mount it. Registers at
   * once (synchronously), before any other job can fetch and evict.
   */
  hold(cid: string): () => void {
    const key = cacheKey(cid);
    this.#hold(key);
    this.#load().catch(() => {});
    let released = false;
    return () => {
      if (!released) this.#release(key);
      released = true;
    };
  }

  /** Waits for background removals (tests; a clean shutdown). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) {
      const list = [...this.#pending];
      this.#pending.clear();
      await Promise.all(list);
    }
  }

  /**
   * Reads the cache once: leftovers of a crash removed, every entry checked, the bound applied (everything not held
   * goes when the cache is disabled). A cache directory that cannot be read disables the cache rather than the jobs.
   */
  #load(): Promise<void> {
    this.#ready ??= this.#scan().catch((error) => {
      this.#log.error("Input cache unusable: inputs are fetched for each job", { dir: this.dir, error });
      this.#max = 0;
    }).finally(() => this.#loaded = true);
    return this.#ready;
  }

  async #scan(): Promise<void> {
    if (!this.enabled && !(await Deno.lstat(this.dir).then(() => true, () => false))) return;
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o755 });
    await removeTree(join(this.dir, ".staging"));
    await removeTree(join(this.dir, ".trash"));
    for await (const e of Deno.readDir(this.dir)) {
      if (e.name.startsWith(".")) continue;
      const root = join(this.dir, e.name);
      const marker = keyOf(e.name) === e.name ? await readMarker(root, e.name) : undefined;
      const problem = marker ? await checkEntry(root, e.name, marker) : "missing or unreadable completion marker";
      if (problem) {
        this.#log.warn("Dropping a broken input cache entry", { entry: e.name, problem });
        await this.#discard(e.name, root);
        continue;
      }
      const lastUsed = (await Deno.stat(root)).mtime?.getTime() ?? 0;
      this.#entries.set(e.name, { key: e.name, root, marker: marker!, lastUsed });
      this.#bytes += marker!.bytes;
    }
    // The bound may have shrunk since the entries were added.
    this.#evict(this.#bytes - this.#max, true);
    this.#log.info("Input cache ready", { entries: this.#entries.size, bytes: this.#bytes, max_bytes: this.#max });
  }

  /** A held, re-checked entry, or undefined (none, or it was broken and is now dropped). */
  async #hit(key: string): Promise<InputLease | undefined> {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#hold(key);
    const problem = await checkEntry(entry.root, key, entry.marker);
    if (problem) {
      this.#log.warn("Dropping a broken input cache entry", { entry: key, problem });
      this.#drop(entry);
      this.#release(key);
      return undefined;
    }
    return this.#lease(entry, "cache");
  }

  #start(key: string, cid: string, fetch: InputFetcher): Flight {
    const flight: Flight = { controller: new AbortController(), waiters: new Set() };
    this.#flights.set(key, flight);
    // Nobody waits any more: later requests start afresh instead of joining a fetch that is being torn down.
    flight.controller.signal.addEventListener("abort", () => this.#land(key, flight));
    this.#fill(key, cid, fetch, flight);
    return flight;
  }

  /** The flight is over: no one joins it any more (called before its waiters are answered). */
  #land(key: string, flight: Flight): void {
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
  }

  #wait(flight: Flight, key: string, own: boolean, options: AcquireOptions): Promise<InputLease | "retry"> {
    const signal = options.signal;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!flight.waiters.delete(waiter)) return;
        reject(aborted(signal!));
        if (flight.waiters.size === 0) flight.controller.abort(signal!.reason);
      };
      const waiter: Waiter = {
        fallbackDir: options.fallbackDir,
        own,
        resolve: (v) => (signal?.removeEventListener("abort", onAbort), resolve(v)),
        reject: (e) => (signal?.removeEventListener("abort", onAbort), reject(e)),
      };
      flight.waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (!own) this.#log.debug("Waiting for another job's fetch of the same input", { entry: key });
    });
  }

  /**
   * Fetches into staging, then makes it an entry (or, when it cannot fit, one waiter's own input directory), and
   * answers the waiters. Never throws: a failure is every waiter's.
   */
  async #fill(key: string, cid: string, fetch: InputFetcher, flight: Flight): Promise<void> {
    const staging = join(this.dir, ".staging", crypto.randomUUID());
    const data = join(staging, DATA_NAME);
    try {
      await Deno.mkdir(data, { recursive: true, mode: 0o755 });
      const fetched = await fetch(data, flight.controller.signal);
      const existing = this.#entries.get(key);
      if (existing) return this.#grant(key, flight, existing);
      if (!this.#evictFor(fetched.bytes)) {
        this.#log.info("Input does not fit in the input cache; kept for this job only", {
          entry: key,
          bytes: fetched.bytes,
          max_bytes: this.#max,
        });
        return await this.#handOver(key, flight, data, fetched.bytes);
      }
      // Reserved before the awaits below, so concurrent fills see the room taken.
      this.#bytes += fetched.bytes;
      let entry: Entry;
      try {
        await sealTree(data);
        const sealed = await listTree(data);
        if (!sealed) throw new Error(`Fetched input ${cid} holds something that is not a file or directory`);
        const marker: CacheMarker = {
          version: 1,
          cid,
          key,
          bytes: sealed.bytes,
          entries: sealed.entries,
          listing: sealed.listing,
          createdAt: new Date().toISOString(),
        };
        await writeMarker(staging, marker);
        const root = join(this.dir, key);
        await this.#dropping.get(key);
        await this.#discard(key, root); // a stray directory of that name is never an entry the index knows
        await Deno.rename(staging, root);
        entry = { key, root, marker, lastUsed: Date.now() };
        this.#bytes += marker.bytes - fetched.bytes;
      } catch (error) {
        this.#bytes -= fetched.bytes;
        throw error;
      }
      this.#entries.set(key, entry);
      this.#log.info("Input added to the input cache", { entry: key, bytes: entry.marker.bytes, total: this.#bytes });
      this.#grant(key, flight, entry);
    } catch (error) {
      this.#land(key, flight);
      for (const w of flight.waiters) w.reject(error);
      flight.waiters.clear();
    } finally {
      await removeTree(staging).catch((error) => this.#log.warn("Cannot remove a staging directory", { error }));
    }
  }

  /** Hands the entry to every job still waiting, each holding it. */
  #grant(key: string, flight: Flight, entry: Entry): void {
    this.#land(key, flight);
    for (const w of flight.waiters) {
      this.#hold(entry.key);
      w.resolve(this.#lease(entry, w.own ? "fetched" : "shared"));
    }
    flight.waiters.clear();
  }

  /** An input too large to keep: it becomes the first waiter's own input; the others fetch for themselves. */
  async #handOver(key: string, flight: Flight, data: string, bytes: number): Promise<void> {
    this.#land(key, flight);
    const [first, ...rest] = flight.waiters;
    flight.waiters.clear();
    for (const w of rest) w.resolve("retry");
    if (!first) return;
    try {
      await Deno.rename(data, first.fallbackDir);
      first.resolve({ dir: first.fallbackDir, source: "fetched", cached: false, bytes, release: () => {} });
    } catch (error) {
      first.reject(error);
    }
  }

  #lease(entry: Entry, source: InputSource): InputLease {
    entry.lastUsed = Date.now();
    const now = new Date();
    Deno.utime(entry.root, now, now).catch(() => {}); // last use survives a restart
    let released = false;
    return {
      dir: join(entry.root, DATA_NAME),
      source,
      cached: true,
      bytes: entry.marker.bytes,
      release: () => {
        if (!released) this.#release(entry.key);
        released = true;
      },
    };
  }

  /** Makes room for `bytes` more under the bound; false (nothing evicted) when it cannot. */
  #evictFor(bytes: number): boolean {
    return bytes <= this.#max && this.#evict(this.#bytes + bytes - this.#max, false);
  }

  /**
   * Evicts least recently used entries nobody holds until `excess` bytes are freed. When that is not possible, evicts
   * nothing (or, with `partial`, what it can) and returns false.
   */
  #evict(excess: number, partial: boolean): boolean {
    if (excess <= 0) return true;
    const free = [...this.#entries.values()].filter((e) => !this.#holds.get(e.key));
    free.sort((a, b) => a.lastUsed - b.lastUsed);
    const victims: Entry[] = [];
    let freed = 0;
    while (freed < excess && free.length > 0) {
      const e = free.shift()!;
      victims.push(e);
      freed += e.marker.bytes;
    }
    if (freed < excess && !partial) return false;
    for (const e of victims) {
      this.#log.info("Evicting an input from the input cache", { entry: e.key, bytes: e.marker.bytes });
      this.#drop(e);
    }
    return freed >= excess;
  }

  /** Takes an entry out of the index now; its files go once no job holds it. */
  #drop(entry: Entry): void {
    if (entry.dropped) return;
    entry.dropped = true;
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    this.#bytes -= entry.marker.bytes;
    const moved = this.#discard(entry.key, entry.root)
      .catch((error) => this.#log.warn("Cannot remove an input cache entry", { entry: entry.key, error }))
      .finally(() => {
        if (this.#dropping.get(entry.key) === moved) this.#dropping.delete(entry.key);
      });
    this.#dropping.set(entry.key, moved);
    this.#pending.add(moved);
  }

  /**
   * Renames `root` out of the way (so the name is free for a fresh fetch and a half-deleted tree is never found under
   * it), then deletes it, or keeps it until the last hold on `key` goes.
   */
  async #discard(key: string, root: string): Promise<void> {
    if (!(await Deno.lstat(root).then(() => true, () => false))) return;
    const trash = join(this.dir, ".trash", crypto.randomUUID());
    await Deno.mkdir(join(this.dir, ".trash"), { recursive: true });
    await Deno.rename(root, trash);
    if (this.#holds.get(key)) this.#trash.set(key, [...(this.#trash.get(key) ?? []), trash]);
    else await removeTree(trash);
  }

  #hold(key: string): void {
    this.#holds.set(key, (this.#holds.get(key) ?? 0) + 1);
  }

  #release(key: string): void {
    const n = (this.#holds.get(key) ?? 1) - 1;
    if (n > 0) return void this.#holds.set(key, n);
    this.#holds.delete(key);
    const trash = this.#trash.get(key);
    this.#trash.delete(key);
    for (const t of trash ?? []) {
      this.#pending.add(removeTree(t).catch((error) => this.#log.warn("Cannot remove a dropped entry", { error })));
    }
  }
}

/** The cache key of a CID: CIDv1 in base32 (a CIDv0 and its CIDv1 name the same DAG). */
export function cacheKey(cid: string): string {
  return parseCid(cid).toV1().toString();
}

function keyOf(name: string): string | undefined {
  try {
    return cacheKey(name);
  } catch {
    return undefined;
  }
}

function aborted(signal: AbortSignal): StorageError {
  return new StorageError("input_fetch_failed", "aborted", "Input fetch cancelled", { cause: signal.reason });
}
