/**
 * Verified blocks of one retrieval, on disk, and the exporter's view of them while they arrive.
 *
 * `BlockSpool` lives for the whole retrieval: a block is stored once it hashes to its CID and stays (in one spool file,
 * the recent ones in memory too), whichever gateway sent it, so a retry after a broken transfer only fetches what is still missing. `BlockSession` is one attempt
 * against one gateway: a read of a block not stored yet waits for the CAR stream ("feed") that brought its parent, and
 * a block no live feed will bring is fetched on its own (a raw block, or a CAR of its subtree).
 */
import { decode as decodePb } from "@ipld/dag-pb";
import type { CID } from "multiformats/cid";
import { base32 } from "multiformats/bases/base32";
import { BlockNotFoundError } from "./disk_blockstore.ts";
import { StorageError } from "./errors.ts";
import { assertVerifiable, canVerify, DAG_PB, IDENTITY, verifyBlock } from "./block_verify.ts";

/** Options of a {@linkcode BlockSpool}. */
export interface BlockSpoolOptions {
  /** Sees each new block once, after it verified (progress counting). */
  onBlock?: (cid: CID, bytes: Uint8Array) => void;
  /** Most bytes of blocks kept (a gateway sending endless unrelated blocks is cut off). */
  maxBytes?: number;
  /** Most bytes of blocks held in memory as well as on disk (default 8 MiB). */
  memoryBytes?: number;
}

interface Stored {
  offset: number;
  length: number;
}

/**
 * Verified blocks of one retrieval; they survive failed attempts until {@linkcode destroy}. Every block is appended to
 * one spool file (written behind, in order) and indexed by offset; the most recent ones are also held in memory, so
 * the exporter, which reads blocks about when they arrive, gets them without a disk round trip. A block the exporter
 * has read leaves memory once it is on disk; when memory is full, `put` waits for the disk.
 */
export class BlockSpool {
  readonly dir: string;
  #file?: Deno.FsFile;
  #reader?: Deno.FsFile;
  #index = new Map<string, Stored>();
  #memory = new Map<string, Uint8Array>();
  #memoryBytes = 0;
  #memoryMax: number;
  #read = new Set<string>();
  #appended = 0;
  #written = 0;
  #writing: Promise<void> = Promise.resolve();
  #writeError: unknown;
  #reading: Promise<unknown> = Promise.resolve();
  #onBlock?: (cid: CID, bytes: Uint8Array) => void;
  #maxBytes: number;
  /** Bytes of all blocks stored so far. */
  storedBytes = 0;

  constructor(dir: string, options: BlockSpoolOptions = {}) {
    this.dir = dir;
    this.#onBlock = options.onBlock;
    this.#maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#memoryMax = options.memoryBytes ?? 8 * 1024 * 1024;
  }

  /** Creates the directory and the spool file. */
  async open(): Promise<this> {
    await Deno.mkdir(this.dir, { recursive: true });
    this.#file = await Deno.open(`${this.dir}/blocks`, { write: true, createNew: true });
    this.#reader = await Deno.open(`${this.dir}/blocks`, { read: true });
    return this;
  }

  /** Blocks stored so far. */
  get blocks(): number {
    return this.#index.size;
  }

  /** Whether `cid`'s block is stored (identity CIDs always are: the CID holds the bytes). */
  has(cid: CID): boolean {
    return cid.multihash.code === IDENTITY || this.#index.has(keyOf(cid));
  }

  /** Verifies and stores a block; returns whether it was new. Throws `input_integrity_failed` on a mismatch. */
  async put(cid: CID, bytes: Uint8Array): Promise<boolean> {
    if (this.has(cid)) return false;
    await verifyBlock(cid, bytes);
    const key = keyOf(cid);
    if (this.#index.has(key)) return false;
    if (this.#writeError) throw this.#writeError;
    if (this.storedBytes + bytes.byteLength > this.#maxBytes) {
      throw new StorageError(
        "input_fetch_failed",
        "too_large",
        `The gateways sent more than ${this.#maxBytes} bytes of blocks (INPUT_MAX_BYTES plus DAG overhead)`,
      );
    }
    const stored = { offset: this.#appended, length: bytes.byteLength };
    this.#appended += bytes.byteLength;
    this.#index.set(key, stored);
    this.#memory.set(key, bytes);
    this.#memoryBytes += bytes.byteLength;
    this.#append(key, bytes, stored);
    this.storedBytes += bytes.byteLength;
    this.#onBlock?.(cid, bytes);
    // Memory full of blocks not yet read: wait until the disk has them, then let the oldest go.
    if (this.#memoryBytes > this.#memoryMax) {
      await this.#writing;
      // In append order; only what is on disk may go (puts running meanwhile appended more).
      for (const [k, b] of this.#memory) {
        if (this.#memoryBytes <= this.#memoryMax / 2) break;
        const stored = this.#index.get(k)!;
        if (stored.offset + stored.length > this.#written) break;
        this.#forget(k, b);
      }
    }
    return true;
  }

  /** Reads a stored block: from memory when it is still there, else from the spool file. */
  async read(cid: CID): Promise<Uint8Array> {
    if (cid.multihash.code === IDENTITY) return cid.multihash.digest;
    const key = keyOf(cid);
    const held = this.#memory.get(key);
    if (held) {
      // Read once is usually read for good (the exporter walks each block once): it leaves memory when on disk.
      if (this.#written >= this.#index.get(key)!.offset + held.byteLength) this.#forget(key, held);
      else this.#read.add(key);
      return held;
    }
    const stored = this.#index.get(key);
    if (!stored) throw new BlockNotFoundError(`Block ${cid} not found`);
    // Not in memory means on disk. One reader, so one seek and read at a time.
    const next = this.#reading.then(() => this.#readAt(stored));
    this.#reading = next.catch(() => {});
    return await next;
  }

  /** Deletes the spooled blocks. */
  async destroy(): Promise<void> {
    await this.#writing.catch(() => {});
    await this.#reading;
    this.#file?.close();
    this.#reader?.close();
    this.#file = this.#reader = undefined;
    this.#memory.clear();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  #append(key: string, bytes: Uint8Array, stored: Stored): void {
    this.#writing = this.#writing.then(async () => {
      if (this.#writeError) return;
      try {
        let off = 0;
        while (off < bytes.byteLength) off += await this.#file!.write(bytes.subarray(off));
        this.#written = stored.offset + stored.length;
        if (this.#read.delete(key)) this.#forget(key, bytes);
      } catch (error) {
        this.#writeError = new StorageError(
          "input_fetch_failed",
          "unsupported",
          `Cannot write the block spool in ${this.dir}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    });
  }

  #forget(key: string, bytes: Uint8Array): void {
    if (this.#memory.get(key) !== bytes) return;
    this.#memory.delete(key);
    this.#memoryBytes -= bytes.byteLength;
  }

  async #readAt(stored: Stored): Promise<Uint8Array> {
    await this.#reader!.seek(stored.offset, Deno.SeekMode.Start);
    const out = new Uint8Array(stored.length);
    let off = 0;
    while (off < out.byteLength) {
      const n = await this.#reader!.read(out.subarray(off));
      if (n === null) throw new Error(`The block spool in ${this.dir} ends before offset ${stored.offset + off}`);
      off += n;
    }
    return out;
  }
}

/** A stream of blocks within one attempt (one CAR response). */
export interface Feed {
  /** Verifies and stores a block; the links of a dag-pb block are then awaited from this feed. */
  put(cid: CID, bytes: Uint8Array): Promise<void>;
  /** The stream ended cleanly: blocks still awaited from it are fetched on their own. */
  end(): void;
}

/**
 * Gets one block (and maybe its subtree) from the attempt's gateway into `session`: `session.put` for a single block,
 * `session.openFeed()` for a CAR. Resolves once the response has been read to its end.
 */
export type BlockSource = (cid: CID, session: BlockSession, signal: AbortSignal) => Promise<void>;

interface Waiter {
  resolve(arrived: boolean): void;
  reject(error: unknown): void;
}

interface FeedState {
  live: boolean;
}

/** One attempt's reads: waits for live feeds, fetches the rest through `source`, fails as a whole on the first error. */
export class BlockSession {
  readonly spool: BlockSpool;
  #source: BlockSource;
  #controller = new AbortController();
  #signal: AbortSignal;
  #expected = new Map<string, FeedState>();
  #waiters = new Map<string, Set<Waiter>>();
  #fetching = new Map<string, Promise<void>>();
  #slots: Slots;
  #failure: unknown;
  #failed = false;

  constructor(spool: BlockSpool, options: { source: BlockSource; signal: AbortSignal; concurrency?: number }) {
    this.spool = spool;
    this.#source = options.source;
    this.#signal = AbortSignal.any([options.signal, this.#controller.signal]);
    this.#slots = new Slots(options.concurrency ?? 8);
  }

  /** The first error of a feed or fetch, which ended the session; undefined while it is sound. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Whether the session ended with an error. */
  get failed(): boolean {
    return this.#failed;
  }

  /** The blockstore interface of the exporter. */
  async *get(cid: CID, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    await this.#arrival(cid, options.signal);
    yield await this.spool.read(cid);
  }

  /** Stores a block that arrived on its own (a raw-block answer). */
  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    await this.#store(cid, bytes, undefined);
  }

  /** A new feed: a CAR response being read. */
  openFeed(): Feed {
    const state: FeedState = { live: true };
    return {
      put: (cid, bytes) => this.#store(cid, bytes, state),
      end: () => this.#endFeed(state),
    };
  }

  /** Ends the session: feeds and fetches still running are cancelled, readers get `error` (or an abort). */
  close(error?: unknown): void {
    if (error !== undefined) this.#fail(error);
    this.#controller.abort(new DOMException("attempt finished", "AbortError"));
    this.#rejectAll(this.#failure ?? new DOMException("attempt finished", "AbortError"));
  }

  async #store(cid: CID, bytes: Uint8Array, feed: FeedState | undefined): Promise<void> {
    if (this.#failed) throw this.#failure;
    // A block the agent cannot hash-check is skipped; if the DAG needs it, the read says why.
    if (!canVerify(cid)) return;
    const fresh = await this.spool.put(cid, bytes);
    const key = keyOf(cid);
    this.#expected.delete(key);
    if (feed && cid.code === DAG_PB) {
      // A duplicate was not hashed by the spool: its links are trusted only once its bytes are.
      if (!fresh) await verifyBlock(cid, bytes);
      for (const link of linksOf(bytes)) {
        if (this.spool.has(link)) continue;
        const k = keyOf(link);
        if (!this.#expected.get(k)?.live) this.#expected.set(k, feed);
      }
    }
    this.#wake(key, true);
  }

  #endFeed(state: FeedState): void {
    if (!state.live) return;
    state.live = false;
    for (const [key, feed] of this.#expected) {
      if (feed !== state) continue;
      this.#expected.delete(key);
      this.#wake(key, false);
    }
  }

  async #arrival(cid: CID, signal?: AbortSignal): Promise<void> {
    assertVerifiable(cid);
    if (this.#failed) throw this.#failure;
    if (this.spool.has(cid)) return;
    const key = keyOf(cid);
    if (this.#expected.get(key)?.live) {
      const arrived = await this.#wait(key, signal);
      if (arrived || this.spool.has(cid)) return;
    }
    await this.#fetch(cid, key);
  }

  #wait(key: string, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const set = this.#waiters.get(key) ?? new Set();
      const onAbort = () => {
        set.delete(waiter);
        reject(signal!.reason);
      };
      // The listener goes with the waiter: a long retrieval waits for thousands of blocks on one signal.
      const waiter: Waiter = {
        resolve: (arrived) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(arrived);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      set.add(waiter);
      this.#waiters.set(key, set);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #wake(key: string, arrived: boolean): void {
    const set = this.#waiters.get(key);
    if (!set) return;
    this.#waiters.delete(key);
    for (const w of set) w.resolve(arrived);
  }

  #fetch(cid: CID, key: string): Promise<void> {
    let p = this.#fetching.get(key);
    if (p) return p;
    p = (async () => {
      await this.#slots.acquire(this.#signal);
      if (this.spool.has(cid)) return this.#slots.release();
      const arrived = this.#wait(key, this.#signal);
      const read = this.#source(cid, this, this.#signal).finally(() => this.#slots.release());
      read.catch((error) => this.#fail(error));
      arrived.catch(() => {});
      // The block may come early in a long answer (the root of a subtree CAR): go on as soon as it is stored.
      const first = await Promise.race([arrived, read.then(() => "read" as const)]);
      if (first === true || this.spool.has(cid)) return;
      await read;
      if (this.spool.has(cid)) return;
      throw this.#fail(missingBlock(cid));
    })();
    this.#fetching.set(key, p);
    p.catch(() => {}).finally(() => this.#fetching.delete(key));
    return p;
  }

  #fail(error: unknown): unknown {
    if (!this.#failed) {
      this.#failed = true;
      this.#failure = error;
      this.#controller.abort(new DOMException("attempt failed", "AbortError"));
      this.#rejectAll(error);
    }
    return this.#failure;
  }

  #rejectAll(error: unknown): void {
    for (const set of this.#waiters.values()) for (const w of set) w.reject(error);
    this.#waiters.clear();
  }
}

/** The gateway's answer lacked `cid`: not bad data, the block is just not there. */
function missingBlock(cid: CID): StorageError {
  return new StorageError(
    "input_fetch_failed",
    "missing_block",
    `The gateway's answer for block ${cid}, which the DAG needs, ended without it`,
    { retryable: true },
  );
}

/** A counting semaphore: at most `n` block requests in flight per attempt. */
class Slots {
  #free: number;
  #queue: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#queue = this.#queue.filter((g) => g !== grant);
        reject(signal.reason);
      };
      this.#queue.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free++;
  }
}

/** The links of a verified dag-pb block; none when it does not decode (the exporter reports that when it reads it). */
function linksOf(bytes: Uint8Array): CID[] {
  try {
    return decodePb(bytes).Links.map((l) => l.Hash);
  } catch {
    return [];
  }
}

function keyOf(cid: CID): string {
  return base32.baseEncode(cid.multihash.bytes);
}
