/** Checks that a block's bytes are what its CID names. */
import { CID } from "multiformats/cid";
import { createHash } from "node:crypto";
import { equals } from "multiformats/bytes";
import { integrityError, StorageError } from "./errors.ts";

/** dag-pb multicodec. */
export const DAG_PB = 0x70;
/** raw multicodec. */
export const RAW = 0x55;
/** dag-cbor multicodec. */
export const DAG_CBOR = 0x71;
/** sha2-256 multihash code. */
export const SHA2_256 = 0x12;
/** identity multihash code (the data is inside the CID). */
export const IDENTITY = 0x00;
/** The largest block accepted (the IPFS network's own transfer limit; the trustless-gateway spec's client limit). */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024;

const CODEC_NAMES: Record<number, string> = {
  [DAG_PB]: "dag-pb",
  [RAW]: "raw",
  [DAG_CBOR]: "dag-cbor",
  0x0129: "dag-json",
};

/** A codec's name for messages: `dag-cbor`, or `0x…` for one the agent does not know. */
export function codecName(code: number): string {
  return CODEC_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Whether the agent can check a block of `cid` at all: sha2-256 or identity multihash. */
export function canVerify(cid: CID): boolean {
  return cid.multihash.code === SHA2_256 || cid.multihash.code === IDENTITY;
}

/**
 * Throws `input_fetch_failed`/`unsupported` for a CID whose hash the agent cannot check: a content property, so
 * another gateway would not help.
 */
export function assertVerifiable(cid: CID): void {
  if (!canVerify(cid)) {
    throw new StorageError(
      "input_fetch_failed",
      "unsupported",
      `Block ${cid} uses hash 0x${cid.multihash.code.toString(16)}; the agent verifies sha2-256 (and identity) only`,
      { retryable: false },
    );
  }
}

/**
 * Throws `input_integrity_failed` unless `bytes` hash to `cid` (sha2-256 or identity) and fit the block limit. Any
 * codec verifies here; which codecs may reach the input directory is the exporter's decision.
 */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength >= OFF_THREAD_BYTES && cid.multihash.code === SHA2_256 && bytes.byteLength <= MAX_BLOCK_BYTES) {
    if (!equals(await sha256Digest(bytes), cid.multihash.digest)) throw mismatch(cid);
    return;
  }
  checkBlock(cid, bytes);
}

/**
 * The sha2-256 digest of `bytes`. From {@linkcode OFF_THREAD_BYTES} on, WebCrypto hashes on a worker thread: several
 * large blocks at once, beside the main thread's decoding, reading and sending; smaller ones are hashed here.
 */
export async function sha256Digest(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes.byteLength < OFF_THREAD_BYTES) return sha256Of(bytes);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

/** {@linkcode verifyBlock}, synchronously, on this thread. */
export function checkBlock(cid: CID, bytes: Uint8Array): void {
  assertVerifiable(cid);
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
  if (!equals(sha256Of(bytes), mh.digest)) throw mismatch(cid);
}

// From this size a block is hashed off this thread (below it, the round trip costs more than the hash).
const OFF_THREAD_BYTES = 64 * 1024;

function mismatch(cid: CID): StorageError {
  return integrityError("hash_mismatch", `Block ${cid} failed verification: its bytes hash to another digest`);
}

/** The sha2-256 digest of `bytes`, on this thread (`node:crypto`: no copy, the fastest for one block at a time). */
export function sha256Of(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
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
