/** Reads a CAR stream block by block, with hard limits, and hands every block to a verifying sink. */
import { createDecoder } from "@ipld/car/decoder";
import type { CID } from "multiformats/cid";
import { MAX_BLOCK_BYTES } from "./block_verify.ts";
import type { BlockBuffers } from "./block_buffers.ts";
import { type ByteSource, chunkSource, isByteSource } from "./byte_source.ts";
import { integrityError, StorageError } from "./errors.ts";

/** Limits on one CAR stream. */
export interface CarLimits {
  /** Largest total CAR size accepted (headers, CIDs and blocks). */
  maxCarBytes: number;
  /** Where the memory of large blocks comes from (and goes back to, once they are on disk). */
  buffers?: BlockBuffers;
}

/** Where the blocks go: verified there (a mismatch throws), in the order they arrive. */
export interface BlockSink {
  put(cid: CID, bytes: Uint8Array): Promise<void>;
}

/** What one CAR stream delivered. */
export interface CarIngestResult {
  blocks: number;
  carBytes: number;
  /** The stream ended inside the header or a section: the blocks before it count, the rest must come elsewhere. */
  truncated: boolean;
  /** What the header names; informational only (the trustless-gateway spec: clients SHOULD ignore it). */
  roots: CID[];
}

// A CAR section is a CID (at most ~70 bytes here) plus the block; anything wider is refused before it is buffered.
const MAX_SECTION = MAX_BLOCK_BYTES + 1024;

// Blocks in the sink at once: their spool writes overlap the decoding of the next ones (hashing itself is synchronous).
const VERIFY_WINDOW_BYTES = 4 * 1024 * 1024;
const VERIFY_WINDOW_BLOCKS = 64;

/**
 * Decodes `body` as a CARv1/v2 and gives every block to `sink`. The header's roots are not checked: what counts is
 * whether the blocks the DAG needs arrive and verify, which the reader of the DAG decides. A stream that ends early is
 * reported as `truncated`, not as bad data. Throws `input_integrity_failed` (`bad_car`, `too_large`) on bytes that are
 * not a CAR, and passes network errors of the body through as they are. A few blocks are in the sink at once (their
 * disk writes overlap the decoding); all of them have settled when this returns or throws.
 */
export async function ingestCar(
  body: AsyncIterable<Uint8Array> | ByteSource,
  sink: BlockSink,
  limits: CarLimits,
): Promise<CarIngestResult> {
  const chunks = isByteSource(body) ? undefined : chunkSource(body);
  const reader = new CarSectionReader(chunks ?? (body as ByteSource), limits.maxCarBytes, limits.buffers);
  const decoder = createDecoder(reader);
  let blocks = 0;
  let roots: CID[] = [];
  const inflight = new Set<Promise<void>>();
  let inflightBytes = 0;
  let failure: { error: unknown } | undefined;
  try {
    const header = await decoder.header();
    roots = header.roots ?? [];
    for await (const { cid, bytes } of decoder.blocks()) {
      if (failure) throw failure.error;
      // The size is kept: once the block is on disk its memory may be read into again (and `bytes` detached).
      const size = bytes.byteLength;
      inflightBytes += size;
      const put: Promise<void> = sink.put(cid, bytes).catch((error) => void (failure ??= { error })).finally(() => {
        inflight.delete(put);
        inflightBytes -= size;
      });
      inflight.add(put);
      blocks++;
      while (inflight.size >= VERIFY_WINDOW_BLOCKS || inflightBytes > VERIFY_WINDOW_BYTES) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failure) throw failure.error;
  } catch (raw) {
    await Promise.all(inflight);
    const error = failure?.error ?? raw;
    if (error instanceof StorageError) throw error;
    if (error instanceof DOMException || isNetworkError(error)) throw error;
    // The body ended cleanly inside a section: an incomplete CAR (the spec's "terminate the stream" on a missing
    // block, or a proxy cutting it), not bytes that contradict a CID.
    if (reader.ended && isEndOfData(error)) return { blocks, carBytes: reader.carBytes, truncated: true, roots };
    throw integrityError("bad_car", `Malformed CAR: ${(error as Error).message}`, error);
  } finally {
    await chunks?.close();
  }
  return { blocks, carBytes: reader.carBytes, truncated: false, roots };
}

// A section at least this large is read into memory of its own, straight from the source, and handed out as it is.
const LARGE = 16 * 1024;
// What is read when more bytes are wanted: little after a large block (the next is likely large too, and will get its
// own memory), more after small ones (many small sections come in one read).
const READ_AFTER_LARGE = 4 * 1024;
const READ_AFTER_SMALL = 128 * 1024;

/**
 * The reader `@ipld/car`'s decoder pulls from, over a {@linkcode ByteSource}: a block is read from the socket into
 * memory of its exact size and handed out without a copy; small things (varints, CIDs, small blocks) are copied out of
 * a read buffer. Counts bytes against the CAR limit and refuses sections over the block limit before reading them.
 */
class CarSectionReader {
  carBytes = 0;
  /** The source ended (cleanly). */
  ended = false;
  #source: ByteSource;
  #max: number;
  #buf = new Uint8Array(0);
  #off = 0;
  #end = 0;
  // A view into #buf was handed out: its memory must not be read into again.
  #lent = false;
  #pos = 0;
  #skip = 0;
  #afterLarge = false;
  #buffers?: BlockBuffers;

  constructor(source: ByteSource, maxCarBytes: number, buffers?: BlockBuffers) {
    this.#source = source;
    this.#max = maxCarBytes;
    this.#buffers = buffers;
  }

  get pos(): number {
    return this.#pos;
  }

  async upTo(n: number): Promise<Uint8Array> {
    await this.#fill(n, false);
    return this.#buf.subarray(this.#off, this.#off + Math.min(n, this.#end - this.#off));
  }

  async exactly(n: number, seek = false): Promise<Uint8Array> {
    // The length prefixes come from the network: refuse before buffering.
    if (n > MAX_SECTION) throw integrityError("too_large", `CAR section of ${n} bytes exceeds the 2 MiB block limit`);
    const large = n >= LARGE;
    await this.#fill(n, large);
    if (this.#end - this.#off < n) throw new Error("Unexpected end of data");
    const view = this.#buf.subarray(this.#off, this.#off + n);
    // Small results are copied: a CID keeps a view of its bytes, which must not pin a read buffer.
    const out = large ? view : view.slice();
    if (large) {
      this.#lent = true;
      this.#buffers?.adopt(out);
    }
    if (seek) {
      this.#off += n;
      this.#pos += n;
      this.#afterLarge = large;
    }
    return out;
  }

  seek(n: number): void {
    this.#pos += n;
    const here = Math.min(n, this.#end - this.#off);
    this.#off += here;
    this.#skip += n - here;
  }

  async #fill(n: number, exact: boolean): Promise<void> {
    while (this.#skip > 0 || this.#end - this.#off < n) {
      if (this.#skip > 0 && this.#end > this.#off) {
        const drop = Math.min(this.#skip, this.#end - this.#off);
        this.#off += drop;
        this.#skip -= drop;
        continue;
      }
      if (this.ended) return;
      const have = this.#end - this.#off;
      if (this.#lent || this.#buf.byteLength - this.#off < n || this.#buf.byteLength === this.#end) {
        const size = exact ? n : Math.max(n, this.#afterLarge ? READ_AFTER_LARGE : READ_AFTER_SMALL);
        // Every byte of it is read into before any is handed out (a shorter stream ends in an error).
        const next = exact && this.#buffers ? this.#buffers.take(size) : new Uint8Array(size);
        next.set(this.#buf.subarray(this.#off, this.#end));
        this.#buf = next;
        this.#off = 0;
        this.#end = have;
        this.#lent = false;
      }
      const got = await this.#source.readInto(this.#buf.subarray(this.#end));
      // The read may have moved the memory (a BYOB read transfers it).
      this.#buf = new Uint8Array(got.buffer);
      if (got.byteLength === 0) {
        this.ended = true;
        return;
      }
      this.#end += got.byteLength;
      this.carBytes += got.byteLength;
      if (this.carBytes > this.#max) {
        throw new StorageError(
          "input_fetch_failed",
          "too_large",
          `The CAR stream exceeds ${this.#max} bytes (INPUT_MAX_BYTES plus DAG overhead)`,
        );
      }
    }
  }
}

function isEndOfData(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Unexpected end of data|Could not decode varint/i.test(message) || error instanceof RangeError;
}

function isNetworkError(error: unknown): boolean {
  // Errors from the HTTP body stream (reset, inactivity) are not the CAR decoder's: keep them as they are.
  return error instanceof TypeError || (error instanceof Error && error.name === "InactivityError");
}
