/** Reads a CAR stream block by block, with hard limits, and hands every block to a verifying sink. */
import { asyncIterableReader, createDecoder } from "@ipld/car/decoder";
import type { CID } from "multiformats/cid";
import { MAX_BLOCK_BYTES } from "./block_verify.ts";
import { integrityError, StorageError } from "./errors.ts";

/** Limits on one CAR stream. */
export interface CarLimits {
  /** Largest total CAR size accepted (headers, CIDs and blocks). */
  maxCarBytes: number;
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

/**
 * Decodes `body` as a CARv1/v2 and gives every block to `sink`. The header's roots are not checked: what counts is
 * whether the blocks the DAG needs arrive and verify, which the reader of the DAG decides. A stream that ends early is
 * reported as `truncated`, not as bad data. Throws `input_integrity_failed` (`bad_car`, `too_large`) on bytes that are
 * not a CAR, and passes network errors of the body through as they are.
 */
export async function ingestCar(
  body: AsyncIterable<Uint8Array>,
  sink: BlockSink,
  limits: CarLimits,
): Promise<CarIngestResult> {
  let carBytes = 0;
  let ended = false;
  const counted = (async function* () {
    for await (const chunk of body) {
      carBytes += chunk.byteLength;
      if (carBytes > limits.maxCarBytes) {
        throw new StorageError(
          "input_fetch_failed",
          "too_large",
          `The CAR stream exceeds ${limits.maxCarBytes} bytes (INPUT_MAX_BYTES plus DAG overhead)`,
        );
      }
      yield chunk;
    }
    ended = true;
  })();
  const inner = asyncIterableReader(counted);
  // Refuse oversized reads before the reader buffers them: the length prefixes come from the network.
  const reader = {
    upTo: (n: number) => inner.upTo(n),
    exactly(n: number, seek?: boolean) {
      if (n > MAX_SECTION) {
        return Promise.reject(integrityError("too_large", `CAR section of ${n} bytes exceeds the 2 MiB block limit`));
      }
      return inner.exactly(n, seek);
    },
    seek: (n: number) => inner.seek(n),
    get pos() {
      return inner.pos;
    },
  };
  const decoder = createDecoder(reader);
  let blocks = 0;
  let roots: CID[] = [];
  try {
    const header = await decoder.header();
    roots = header.roots ?? [];
    for await (const { cid, bytes } of decoder.blocks()) {
      await sink.put(cid, bytes);
      blocks++;
    }
  } catch (error) {
    if (error instanceof StorageError) throw error;
    if (error instanceof DOMException || isNetworkError(error)) throw error;
    // The body ended cleanly inside a section: an incomplete CAR (the spec's "terminate the stream" on a missing
    // block, or a proxy cutting it), not bytes that contradict a CID.
    if (ended && isEndOfData(error)) return { blocks, carBytes, truncated: true, roots };
    throw integrityError("bad_car", `Malformed CAR: ${(error as Error).message}`, error);
  }
  return { blocks, carBytes, truncated: false, roots };
}

function isEndOfData(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Unexpected end of data|Could not decode varint/i.test(message) || error instanceof RangeError;
}

function isNetworkError(error: unknown): boolean {
  // Errors from the HTTP body stream (reset, inactivity) are not the CAR decoder's: keep them as they are.
  return error instanceof TypeError || (error instanceof Error && error.name === "InactivityError");
}
