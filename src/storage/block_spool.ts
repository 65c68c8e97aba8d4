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
import { BlockBuffers } from "./block_buffers.ts";
import { BlockNotFoundError } from "./disk_blockstore.ts";
import { StorageError } from "./errors.ts";
import { assertVerifiable, canVerify, DAG_PB, IDENTITY, RAW, verifyBlock } from "./block_verify.ts";

/** Options of a {@linkcode BlockSpool}. */
export interface BlockSpoolOptions {
  /** Sees each new block once, after it verified (progress counting). */
  onBlock?: (cid: CID, bytes: Uint8Array) => void;
  /** Most bytes of blocks kept (a gateway sending endless unrelated blocks is cut off). */
  maxBytes?: number;
  /** Most bytes of blocks held in memory as well as on disk (default 8 MiB). */
  memoryBytes?: number;
  /**
   * File leaves wait in memory for the exporter to write them into the input's files ({@linkcode BlockSpool.place})
   * instead of going to the spool file as well: each byte of a file reaches the disk once. Leaves are raw blocks and
   * dag-pb blocks without links of at least {@linkcode PLACED_LEAF_MIN} bytes (CIDv0 files, as Kubo's default
   * `ipfs add` makes them). They are spooled only when the reader cannot take them (they came out of order, or nobody
   * reads). Default false: every block is spooled.
   */
  placeLeaves?: boolean;
}

/** Where a placed block's bytes are: a range of a file the exporter wrote (a dag-pb leaf's: its file data). */
export interface Placement {
  path: string;
  offset: number;
  length: number;
}

/**
 * The smallest dag-pb leaf held for placing: smaller ones (a directory's little files) are not worth a placement and
 * go to the spool at once, as inner blocks do.
 */
export const PLACED_LEAF_MIN = 16 * 1024;

/** The bytes of a placed dag-pb leaf around its file data (the protobuf framing): the block is head + data + tail. */
interface Frame {
  head: Uint8Array;
  tail: Uint8Array;
}

type Where =
  /** In the spool file. */
  | { at: "spool"; offset: number; length: number }
  /** In memory only, waiting to be placed (or spooled). */
  | { at: "memory"; length: number }
  /** In an exported file. */
  | ({ at: "file"; frame?: Frame } & Placement);

/**
 * Verified blocks of one retrieval; they survive failed attempts until {@linkcode destroy}. A block lives in one of
 * three places: the spool file (appended behind, in order, and indexed by offset), memory only (a raw block not yet
 * written by the exporter), or the range of an input file the exporter wrote it to. The recent blocks are also held in
 * memory, so the exporter, which reads blocks about when they arrive, gets them without a disk round trip. A block
 * leaves memory once it is on disk (spooled or placed). When memory is full, `put` waits: for the disk, for the
 * exporter to place what it holds, or, once a reader waits on a block that is not there (what is held came out of
 * order), it spools what is held to make room.
 */
export class BlockSpool {
  readonly dir: string;
  #file?: Deno.FsFile;
  #reader?: Deno.FsFile;
  #index = new Map<string, Where>();
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
  #placeLeaves: boolean;
  #stalled: () => number | undefined = () => NO_READER;
  #changed = Promise.withResolvers<void>();
  #placedReader?: { path: string; file: Deno.FsFile };
  // Held blocks handed to readers and not released yet, with how many times.
  #lentOut = new Map<Uint8Array, number>();
  /** Bytes of all blocks stored so far. */
  storedBytes = 0;
  /** Memory for large blocks, reused once a placed block's readers are done with it. */
  readonly buffers: BlockBuffers = new BlockBuffers();

  constructor(dir: string, options: BlockSpoolOptions = {}) {
    this.dir = dir;
    this.#onBlock = options.onBlock;
    this.#maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#memoryMax = options.memoryBytes ?? 8 * 1024 * 1024;
    this.#placeLeaves = options.placeLeaves ?? false;
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

  /** Bytes held in memory now. */
  get memoryBytes(): number {
    return this.#memoryBytes;
  }

  /** Bytes appended to the spool file so far. */
  get spooledBytes(): number {
    return this.#appended;
  }

  /** Whether `cid`'s block is stored (identity CIDs always are: the CID holds the bytes). */
  has(cid: CID): boolean {
    return cid.multihash.code === IDENTITY || this.#index.has(keyOf(cid));
  }

  /**
   * Tells the spool how to see that its reader is stuck waiting for a block that is not stored: `stalled` returns an
   * id of the oldest wait under way, or undefined. A wait that lasts while memory is full means what memory holds came
   * out of order: it is spooled to make room. Without a reader (`undefined`), memory is spooled at once. Call
   * {@linkcode kick} when the answer may have changed.
   */
  attach(stalled: (() => number | undefined) | undefined): void {
    this.#stalled = stalled ?? (() => NO_READER);
    this.kick();
  }

  /** Wakes `put`s waiting for room, to look again. */
  kick(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
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
    this.#memory.set(key, bytes);
    this.#memoryBytes += bytes.byteLength;
    if (this.#placeLeaves && isLeaf(cid, bytes)) this.#index.set(key, { at: "memory", length: bytes.byteLength });
    else this.#spool(key, bytes);
    this.storedBytes += bytes.byteLength;
    this.#onBlock?.(cid, bytes);
    await this.#makeRoom();
    return true;
  }

  /** Where `cid`'s bytes were placed in an exported file, if they were. */
  placed(cid: CID): Placement | undefined {
    const where = this.#index.get(keyOf(cid));
    return where?.at === "file" ? { path: where.path, offset: where.offset, length: where.length } : undefined;
  }

  /**
   * Records that the exporter wrote `data`, the file bytes of `cid`'s verified block held in memory, at `offset` of
   * `path`: a raw block's `data` is the block; a dag-pb leaf's is the view of its UnixFS data inside the block, whose
   * framing is kept beside the placement. The block leaves memory and is read from there from now on. A block already
   * on disk keeps its place; a dag-pb leaf whose `data` is not a view of it goes to the spool instead.
   */
  place(cid: CID, path: string, offset: number, data: Uint8Array): void {
    const key = keyOf(cid);
    const where = this.#index.get(key);
    if (where?.at !== "memory") return;
    const held = this.#memory.get(key)!;
    if (cid.code === RAW) {
      this.#index.set(key, { at: "file", path, offset, length: where.length });
    } else {
      const start = data.buffer === held.buffer ? data.byteOffset - held.byteOffset : -1;
      if (start < 0 || start + data.byteLength > held.byteLength) return this.#spool(key, held);
      const frame = { head: held.slice(0, start), tail: held.slice(start + data.byteLength) };
      this.#index.set(key, { at: "file", path, offset, length: data.byteLength, frame });
    }
    this.#forget(key, held);
  }

  /**
   * The reader is done with `bytes`, which {@linkcode read} gave it for `cid`. Once every reader of a placed block is
   * done, its memory goes back to {@linkcode buffers} for the blocks still to come.
   */
  release(cid: CID, bytes: Uint8Array): void {
    const count = this.#lentOut.get(bytes);
    if (count === undefined) return;
    if (count > 1) return void this.#lentOut.set(bytes, count - 1);
    this.#lentOut.delete(bytes);
    const key = keyOf(cid);
    if (this.#index.get(key)?.at === "file" && this.#memory.get(key) !== bytes) this.buffers.give(bytes);
  }

  /**
   * Reads a stored block: from memory when it is still there, else from the spool file or where it was placed. `lend`:
   * the reader gives the bytes back with {@linkcode release} once done (exactly once per read), and a leaf's memory may
   * then be used again; without it the memory is never reused.
   */
  async read(cid: CID, options: { lend?: boolean } = {}): Promise<Uint8Array> {
    if (cid.multihash.code === IDENTITY) return cid.multihash.digest;
    const key = keyOf(cid);
    const held = this.#memory.get(key);
    const where = this.#index.get(key);
    if (held && where) {
      if (where.at === "memory" && options.lend) this.#lentOut.set(held, (this.#lentOut.get(held) ?? 0) + 1);
      // Read once is usually read for good (the exporter walks each block once): it leaves memory when on disk.
      if (where.at === "spool" && this.#written >= where.offset + where.length) this.#forget(key, held);
      else if (where.at === "spool") this.#read.add(key);
      return held;
    }
    if (!where) throw new BlockNotFoundError(`Block ${cid} not found`);
    // Not in memory means on disk. One read at a time.
    const next = this.#reading.then(() => this.#readAt(where));
    this.#reading = next.catch(() => {});
    return await next;
  }

  /** Deletes the spooled blocks (placed ones stay where they are, in the exported files). */
  async destroy(): Promise<void> {
    await this.#writing.catch(() => {});
    await this.#reading;
    this.#file?.close();
    this.#reader?.close();
    this.#placedReader?.file.close();
    this.#file = this.#reader = this.#placedReader = undefined;
    this.#memory.clear();
    this.#memoryBytes = 0;
    this.#lentOut.clear();
    this.buffers.clear();
    this.kick();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Memory over its bound: let go what is on disk, spool what waits if the reader is stuck, else wait for a change. */
  async #makeRoom(): Promise<void> {
    while (this.#memoryBytes > this.#memoryMax && this.#file) {
      let spill = false;
      const wait = this.#stalled();
      if (wait === NO_READER) spill = true;
      else if (wait !== undefined) {
        // A reader's wait often ends within a tick (the block was there, its promise not settled yet): only one that
        // outlasts a timer is a stall.
        await new Promise((r) => setTimeout(r, STALL_MS));
        spill = this.#stalled() === wait;
        if (this.#memoryBytes <= this.#memoryMax) return;
      }
      // In arrival order; only what is on disk may go (puts running meanwhile appended more).
      for (const [key, bytes] of this.#memory) {
        if (this.#memoryBytes <= this.#memoryMax / 2) break;
        const where = this.#index.get(key)!;
        if (where.at === "spool" && where.offset + where.length <= this.#written) this.#forget(key, bytes);
        else if (where.at === "memory" && spill) this.#spool(key, bytes);
      }
      if (this.#memoryBytes <= this.#memoryMax) return;
      const changed = this.#changed.promise;
      // Only pending writes are worth waiting for (a settled chain would spin this loop).
      await (this.#written < this.#appended ? Promise.race([this.#writing, changed]) : changed);
      if (this.#writeError) throw this.#writeError;
    }
  }

  #spool(key: string, bytes: Uint8Array): void {
    const where = { at: "spool" as const, offset: this.#appended, length: bytes.byteLength };
    this.#appended += bytes.byteLength;
    this.#index.set(key, where);
    this.#writing = this.#writing.then(async () => {
      if (this.#writeError) return;
      try {
        let off = 0;
        while (off < bytes.byteLength) off += await this.#file!.write(bytes.subarray(off));
        this.#written = where.offset + where.length;
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
    this.kick();
  }

  async #readAt(where: Where): Promise<Uint8Array> {
    if (where.at === "memory") throw new Error("A block held in memory was read from disk");
    let file = this.#reader!;
    let what = `the block spool in ${this.dir}`;
    if (where.at === "file") {
      what = where.path;
      if (this.#placedReader?.path !== where.path) {
        this.#placedReader?.file.close();
        this.#placedReader = { path: where.path, file: await Deno.open(where.path, { read: true }) };
      }
      file = this.#placedReader.file;
    }
    await file.seek(where.offset, Deno.SeekMode.Start);
    const frame = where.at === "file" ? where.frame : undefined;
    const head = frame?.head.byteLength ?? 0;
    const out = new Uint8Array(head + where.length + (frame?.tail.byteLength ?? 0));
    let off = 0;
    while (off < where.length) {
      const n = await file.read(out.subarray(head + off, head + where.length));
      if (n === null) throw new Error(`${what} ends before offset ${where.offset + off}`);
      off += n;
    }
    if (frame) {
      out.set(frame.head, 0);
      out.set(frame.tail, head + where.length);
    }
    return out;
  }
}

/**
 * Whether a verified block is a file leaf the exporter can place: a raw block, or a dag-pb block without links (a
 * canonical dag-pb block has its links before its data, so one that starts with the data field, 0x0a, has none).
 */
function isLeaf(cid: CID, bytes: Uint8Array): boolean {
  return cid.code === RAW || (cid.code === DAG_PB && bytes.byteLength >= PLACED_LEAF_MIN && bytes[0] === 0x0a);
}

// What `stalled` answers without a reader, and how long a reader's wait must last to count as stuck.
const NO_READER = -1;
const STALL_MS = 2;

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
  // Reads the reader waits on now, oldest first (a Set keeps insertion order).
  #needs = new Set<number>();
  #nextNeed = 0;

  constructor(spool: BlockSpool, options: { source: BlockSource; signal: AbortSignal; concurrency?: number }) {
    this.spool = spool;
    this.#source = options.source;
    this.#signal = AbortSignal.any([options.signal, this.#controller.signal]);
    this.#slots = new Slots(options.concurrency ?? 8);
    spool.attach(() => this.#needs.values().next().value);
  }

  /** The first error of a feed or fetch, which ended the session; undefined while it is sound. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Whether the session ended with an error. */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * The blockstore interface of the exporter. A read with `ahead` is read-ahead: the reader does not wait on it yet
   * (see {@linkcode need}); any other read is what the reader waits on now. `lend`: see {@linkcode BlockSpool.read}.
   */
  async *get(
    cid: CID,
    options: { signal?: AbortSignal; ahead?: boolean; lend?: boolean } = {},
  ): AsyncGenerator<Uint8Array> {
    const arrival = this.#arrival(cid, options.signal);
    await (options.ahead || this.spool.has(cid) ? arrival : this.need(arrival));
    yield await this.spool.read(cid, { lend: options.lend });
  }

  /**
   * Awaits `pending`, a block the reader cannot go on without and that is not there yet: meanwhile the spool makes
   * room in memory by spooling what it holds (which then came out of order) rather than waiting for the reader.
   */
  async need<T>(pending: Promise<T>): Promise<T> {
    const id = this.#nextNeed++;
    this.#needs.add(id);
    this.spool.kick();
    try {
      return await pending;
    } finally {
      this.#needs.delete(id);
    }
  }

  /** Where a leaf was written in an exported file ({@linkcode BlockSpool.placed}). */
  placed(cid: CID): Placement | undefined {
    return this.spool.placed(cid);
  }

  /** The exporter wrote a leaf's file bytes into a file ({@linkcode BlockSpool.place}). */
  place(cid: CID, path: string, offset: number, data: Uint8Array): void {
    this.spool.place(cid, path, offset, data);
  }

  /** The exporter is done with bytes it read ({@linkcode BlockSpool.release}). */
  release(cid: CID, bytes: Uint8Array): void {
    this.spool.release(cid, bytes);
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
    // No reader any more: what arrives now is spooled, never waited on.
    this.spool.attach(undefined);
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
