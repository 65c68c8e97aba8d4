/**
 * The exporter's view of a download in progress: blocks land on disk as they are verified, and a read of a block
 * that has not arrived yet waits for it. The download and the DAG walk run side by side, memory stays bounded.
 */
import type { CID } from "multiformats/cid";
import { base32 } from "multiformats/bases/base32";
import { DiskBlockstore } from "./disk_blockstore.ts";
import { integrityError, type StorageError } from "./errors.ts";
import { verifyBlock } from "./block_verify.ts";

/** Fetches one block by CID (raw-block mode); the spool verifies what it returns. */
export type BlockFetcher = (cid: CID, signal: AbortSignal) => Promise<Uint8Array>;

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** A verifying, waiting blockstore fed by a CAR stream or a per-block fetcher. */
export class BlockSpool {
  readonly store: DiskBlockstore;
  #have = new Set<string>();
  #waiters = new Map<string, Waiter[]>();
  #inflight = new Map<string, Promise<void>>();
  #done = false;
  #failure: unknown;
  #fetcher?: BlockFetcher;
  #signal: AbortSignal;
  #onBlock?: (cid: CID, bytes: Uint8Array) => void;
  /** Bytes of all blocks stored so far. */
  storedBytes = 0;

  constructor(
    dir: string,
    options: { signal: AbortSignal; fetcher?: BlockFetcher; onBlock?: (cid: CID, bytes: Uint8Array) => void },
  ) {
    this.store = new DiskBlockstore(dir);
    this.#fetcher = options.fetcher;
    this.#signal = options.signal;
    this.#onBlock = options.onBlock;
  }

  /** Creates the directory. */
  async open(): Promise<this> {
    await this.store.open();
    return this;
  }

  /** Verifies and stores a block; wakes readers waiting for it. `onBlock` sees each new block once, verified. */
  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    await verifyBlock(cid, bytes);
    const key = keyOf(cid);
    if (this.#have.has(key)) return;
    await this.store.put(cid, bytes);
    this.storedBytes += bytes.byteLength;
    this.#have.add(key);
    this.#onBlock?.(cid, bytes);
    for (const w of this.#waiters.get(key) ?? []) w.resolve();
    this.#waiters.delete(key);
  }

  /** Marks the feed as finished: readers of blocks that never arrived fail with `error` or a missing-block error. */
  finish(error?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#failure = error;
    for (const [key, waiters] of this.#waiters) {
      for (const w of waiters) w.reject(error ?? missing(key));
    }
    this.#waiters.clear();
  }

  /** The blockstore interface of the exporter. */
  async *get(cid: CID, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    await this.#arrival(cid, options.signal);
    yield await this.store.read(cid);
  }

  #arrival(cid: CID, signal?: AbortSignal): Promise<void> {
    const key = keyOf(cid);
    if (this.#have.has(key)) return Promise.resolve();
    if (this.#fetcher) return this.#fetchOnce(cid, key);
    if (this.#done) return Promise.reject(this.#failure ?? missing(key));
    return new Promise<void>((resolve, reject) => {
      const list = this.#waiters.get(key) ?? [];
      list.push({ resolve, reject });
      this.#waiters.set(key, list);
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }

  #fetchOnce(cid: CID, key: string): Promise<void> {
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#fetcher!(cid, this.#signal).then((bytes) => this.put(cid, bytes));
      p.finally(() => this.#inflight.delete(key)).catch(() => {});
      this.#inflight.set(key, p);
    }
    return p;
  }

  /** Deletes the spooled blocks. */
  async destroy(): Promise<void> {
    await this.store.destroy();
  }
}

function keyOf(cid: CID): string {
  return base32.baseEncode(cid.multihash.bytes);
}

function missing(key: string): StorageError {
  return integrityError(
    "missing_block",
    `The CAR ended without block ${key} that the DAG needs (truncated or incomplete)`,
  );
}
