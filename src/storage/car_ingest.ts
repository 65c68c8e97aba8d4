/** Reads a CAR stream block by block, with hard limits, and feeds verified blocks to a {@linkcode BlockSpool}. */
import { asyncIterableReader, createDecoder } from "@ipld/car/decoder";
import type { CID } from "multiformats/cid";
import { equals } from "multiformats/bytes";
import type { BlockSpool } from "./block_spool.ts";
import { MAX_BLOCK_BYTES } from "./block_verify.ts";
import { integrityError, StorageError } from "./errors.ts";

/** Limits on one CAR stream. */
export interface CarLimits {
  /** Largest total CAR size accepted (headers, CIDs and blocks). */
  maxCarBytes: number;
}

/** What one CAR stream delivered. */
export interface CarIngestResult {
  blocks: number;
  carBytes: number;
}

// A CAR section is a CID (at most ~70 bytes here) plus the block; anything wider is refused before it is buffered.
const MAX_SECTION = MAX_BLOCK_BYTES + 1024;

/**
 * Decodes `body` as a CARv1/v2 whose root must be `root`, verifies every block and stores it in `spool`.
 * Throws `input_integrity_failed` on a malformed or truncated CAR or a wrong root.
 */
export async function ingestCar(
  body: AsyncIterable<Uint8Array>,
  root: CID,
  spool: BlockSpool,
  limits: CarLimits,
): Promise<CarIngestResult> {
  let carBytes = 0;
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
  try {
    const header = await decoder.header();
    const roots = header.roots ?? [];
    if (roots.length !== 1 || roots[0].code !== root.code || !equals(roots[0].multihash.bytes, root.multihash.bytes)) {
      throw integrityError("wrong_root", `The CAR's root is ${roots.map(String).join(",") || "missing"}, not ${root}`);
    }
    for await (const { cid, bytes } of decoder.blocks()) {
      await spool.put(cid, bytes);
      blocks++;
    }
  } catch (error) {
    if (error instanceof StorageError) throw error;
    if (error instanceof DOMException || isNetworkError(error)) throw error;
    throw integrityError("bad_car", `Malformed or truncated CAR: ${(error as Error).message}`, error);
  }
  return { blocks, carBytes };
}

function isNetworkError(error: unknown): boolean {
  // Errors from the HTTP body stream (reset, inactivity) are not the CAR decoder's: keep them as they are.
  return error instanceof TypeError || (error instanceof Error && error.name === "InactivityError");
}
