import assert from "node:assert/strict";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { BlockSpool } from "./block_spool.ts";
import type { StorageError } from "./errors.ts";

async function rawBlock(size: number, seed: number): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  return { cid: CID.createV1(0x55, await sha256.digest(bytes)), bytes };
}

Deno.test("blocks beyond the spool's memory are read back from its file, byte for byte, in any order", async () => {
  const dir = await Deno.makeTempDir();
  const spool = await new BlockSpool(`${dir}/spool`, { memoryBytes: 64 * 1024 }).open();
  try {
    const blocks = await Promise.all(Array.from({ length: 40 }, (_, i) => rawBlock(10_000 + i * 997, i)));
    for (const b of blocks) assert.equal(await spool.put(b.cid, b.bytes), true);
    assert.equal(await spool.put(blocks[3].cid, blocks[3].bytes), false, "a block stored twice is not new");
    assert.equal(spool.blocks, 40);
    assert.equal(spool.storedBytes, blocks.reduce((n, b) => n + b.bytes.byteLength, 0));
    // Reads from the end first, then from the start, several at once: memory and disk both serve.
    const order = [...blocks.keys()].reverse().concat([...blocks.keys()]);
    const got = await Promise.all(order.map((i) => spool.read(blocks[i].cid)));
    for (const [k, i] of order.entries()) assert.deepEqual(got[k], blocks[i].bytes, `block ${i}`);
    // The file holds every byte once: memory was bounded, so most of them came from disk.
    assert.equal((await Deno.stat(`${dir}/spool/blocks`)).size, spool.storedBytes);
  } finally {
    await spool.destroy();
  }
  await assert.rejects(Deno.stat(`${dir}/spool`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a block that does not match its CID is refused and not stored", async () => {
  const dir = await Deno.makeTempDir();
  const spool = await new BlockSpool(`${dir}/spool`).open();
  try {
    const b = await rawBlock(5000, 1);
    const bad = b.bytes.slice();
    bad[100] ^= 1;
    await assert.rejects(spool.put(b.cid, bad), (e: StorageError) => e.reason === "input_integrity_failed");
    assert.equal(spool.has(b.cid), false);
    await assert.rejects(spool.read(b.cid), /not found/);
  } finally {
    await spool.destroy();
  }
  await Deno.remove(dir, { recursive: true });
});
