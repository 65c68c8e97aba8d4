import assert from "node:assert/strict";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { sha256 } from "multiformats/hashes/sha2";
import { MAX_BLOCK_BYTES, verifyBlock } from "./block_verify.ts";
import type { StorageError } from "./errors.ts";

const bytes = new TextEncoder().encode("hello world\n");

Deno.test("a block whose bytes hash to its CID passes verification, v0 and v1", async () => {
  const digest = await sha256.digest(bytes);
  await verifyBlock(CID.createV1(0x55, digest), bytes);
  await verifyBlock(CID.createV1(0x70, digest), bytes);
});

Deno.test("one flipped bit fails verification with input_integrity_failed", async () => {
  const cid = CID.createV1(0x55, await sha256.digest(bytes));
  const bad = bytes.slice();
  bad[3] ^= 0x01;
  await assert.rejects(verifyBlock(cid, bad), (e: StorageError) => e.reason === "input_integrity_failed");
});

Deno.test("large blocks (hashed off this thread) pass and fail alike: each size, first and last byte flipped", async () => {
  for (const size of [64 * 1024 - 1, 64 * 1024, 256 * 1024, MAX_BLOCK_BYTES]) {
    const block = new Uint8Array(size).map((_, i) => (i * 7919) & 0xff);
    const cid = CID.createV1(0x55, await sha256.digest(block));
    await verifyBlock(cid, block);
    for (const at of [0, size - 1]) {
      const bad = block.slice();
      bad[at] ^= 0x80;
      await assert.rejects(
        verifyBlock(cid, bad),
        (e: StorageError) => e.reason === "input_integrity_failed" && e.detail === "hash_mismatch",
        `${size} bytes, byte ${at} flipped`,
      );
    }
  }
});

Deno.test("a block of any codec verifies by its hash; blocks over 2 MiB and hashes other than sha2-256 are refused", async () => {
  const digest = await sha256.digest(bytes);
  // A dag-cbor block is checked like any other: whether it may reach /input is the exporter's decision.
  await verifyBlock(CID.createV1(0x71, digest), bytes);
  const big = new Uint8Array(MAX_BLOCK_BYTES + 1);
  await assert.rejects(
    verifyBlock(CID.createV1(0x55, await sha256.digest(big)), big),
    (e: StorageError) => e.reason === "input_integrity_failed" && e.detail === "too_large",
  );
  const blake3 = CID.createV1(0x55, Digest.create(0x1e, digest.digest));
  await assert.rejects(
    verifyBlock(blake3, bytes),
    (e: StorageError) => e.reason === "input_fetch_failed" && e.detail === "unsupported" && /sha2-256/.test(e.message),
  );
});
