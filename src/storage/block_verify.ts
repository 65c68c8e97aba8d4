/** Checks that a block's bytes are what its CID names, and that the agent accepts its codec and hash. */
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { equals } from "multiformats/bytes";
import { integrityError, StorageError } from "./errors.ts";

/** dag-pb multicodec. */
export const DAG_PB = 0x70;
/** raw multicodec. */
export const RAW = 0x55;
/** sha2-256 multihash code. */
export const SHA2_256 = 0x12;
/** identity multihash code (the data is inside the CID). */
export const IDENTITY = 0x00;
/** The largest block accepted (the IPFS network's own transfer limit). */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024;

/** Throws `input_integrity_failed` unless `bytes` hash to `cid` with an accepted codec and hash function. */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.code !== DAG_PB && cid.code !== RAW) {
    throw integrityError(
      "unsupported",
      `Block ${cid} uses codec 0x${cid.code.toString(16)}; only dag-pb and raw are accepted`,
    );
  }
  if (bytes.byteLength > MAX_BLOCK_BYTES) {
    throw integrityError("too_large", `Block ${cid} is ${bytes.byteLength} bytes; the limit is ${MAX_BLOCK_BYTES}`);
  }
  const mh = cid.multihash;
  if (mh.code === IDENTITY) {
    if (!equals(mh.digest, bytes)) {
      throw integrityError("hash_mismatch", `Block ${cid} does not match its identity CID`);
    }
    return;
  }
  if (mh.code !== SHA2_256) {
    throw integrityError("unsupported", `Block ${cid} uses hash 0x${mh.code.toString(16)}; only sha2-256 is accepted`);
  }
  const digest = await sha256.digest(bytes);
  if (!equals(digest.digest, mh.digest)) {
    throw integrityError("hash_mismatch", `Block ${cid} failed verification: its bytes hash to another digest`);
  }
}

/** Parses a CID string (v0 or v1); junk is an `input_fetch_failed` error. */
export function parseCid(text: string): CID {
  try {
    return CID.parse(text.trim());
  } catch (error) {
    throw new StorageError("input_fetch_failed", "unsupported", `Not a CID: ${JSON.stringify(text.slice(0, 100))}`, {
      cause: error,
    });
  }
}
