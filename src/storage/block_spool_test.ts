import assert from "node:assert/strict";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { BlockSpool, PLACED_LEAF_MIN } from "./block_spool.ts";
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

Deno.test("with placeLeaves, a raw block the exporter placed leaves memory, never reaches the spool file, reads back from its file", async () => {
  const dir = await Deno.makeTempDir();
  const spool = await new BlockSpool(`${dir}/spool`, { placeLeaves: true }).open();
  try {
    const a = await rawBlock(70_000, 1);
    const b = await rawBlock(50_000, 2);
    await spool.put(a.cid, a.bytes);
    await spool.put(b.cid, b.bytes);
    assert.equal(spool.memoryBytes, 120_000, "both wait in memory");
    // The exporter writes them into a file, b first, then a.
    await Deno.writeFile(`${dir}/file`, new Uint8Array([...b.bytes, ...a.bytes]));
    spool.place(b.cid, `${dir}/file`, 0, b.bytes);
    spool.place(a.cid, `${dir}/file`, 50_000, a.bytes);
    assert.equal(spool.memoryBytes, 0);
    assert.deepEqual(spool.placed(a.cid), { path: `${dir}/file`, offset: 50_000, length: 70_000 });
    assert.deepEqual(await spool.read(a.cid), a.bytes);
    assert.deepEqual(await spool.read(b.cid), b.bytes);
    assert.equal(spool.spooledBytes, 0);
    assert.equal((await Deno.stat(`${dir}/spool/blocks`)).size, 0, "the spool file holds none of their bytes");
    assert.equal(spool.has(a.cid), true);
  } finally {
    await spool.destroy();
  }
  assert.equal((await Deno.stat(`${dir}/file`)).size, 120_000, "destroy leaves the placed blocks' file alone");
  await Deno.remove(dir, { recursive: true });
});

/** A dag-pb UnixFS file leaf (as Kubo's CIDv0 `ipfs add` makes them), its CIDv0 and its file data. */
async function pbLeaf(size: number, seed: number): Promise<{ cid: CID; bytes: Uint8Array; data: Uint8Array }> {
  const data = (await rawBlock(size, seed)).bytes;
  const bytes = dagPb.encode({ Data: new UnixFS({ type: "file", data }).marshal(), Links: [] });
  return { cid: CID.createV0(await sha256.digest(bytes)), bytes, data };
}

/** The file data of a dag-pb leaf as the exporter sees it: a view of the block, through both decoders. */
function dataView(bytes: Uint8Array): Uint8Array {
  return UnixFS.unmarshal(dagPb.decode(bytes).Data!).data!;
}

Deno.test("with placeLeaves, a dag-pb leaf is placed by its file data: never spooled, read back whole from the file and its framing", async () => {
  const dir = await Deno.makeTempDir();
  const spool = await new BlockSpool(`${dir}/spool`, { placeLeaves: true }).open();
  try {
    const a = await pbLeaf(70_000, 3);
    const b = await pbLeaf(PLACED_LEAF_MIN, 4);
    await spool.put(a.cid, a.bytes);
    await spool.put(b.cid, b.bytes);
    assert.equal(spool.memoryBytes, a.bytes.byteLength + b.bytes.byteLength, "both wait in memory");
    // The file holds the data only (no protobuf framing), b first.
    await Deno.writeFile(`${dir}/file`, new Uint8Array([...b.data, ...a.data]));
    const view = dataView(a.bytes);
    assert.equal(view.buffer, a.bytes.buffer, "the decoders hand out views, which placement relies on");
    spool.place(b.cid, `${dir}/file`, 0, dataView(b.bytes));
    spool.place(a.cid, `${dir}/file`, b.data.byteLength, view);
    assert.equal(spool.memoryBytes, 0);
    assert.deepEqual(spool.placed(a.cid), { path: `${dir}/file`, offset: b.data.byteLength, length: 70_000 });
    assert.deepEqual(await spool.read(a.cid), a.bytes, "the block is rebuilt byte for byte");
    assert.deepEqual(await spool.read(b.cid), b.bytes);
    assert.equal(spool.spooledBytes, 0);
  } finally {
    await spool.destroy();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("with placeLeaves, small and inner dag-pb blocks are spooled at once, and a leaf placed by a copy of its data is spooled", async () => {
  const dir = await Deno.makeTempDir();
  const spool = await new BlockSpool(`${dir}/spool`, { placeLeaves: true }).open();
  try {
    const small = await pbLeaf(PLACED_LEAF_MIN - 100, 5);
    const leaf = await pbLeaf(40_000, 6);
    const inner = dagPb.encode(dagPb.prepare({
      Data: new UnixFS({ type: "file", blockSizes: [40_000n] }).marshal(),
      Links: [{ Hash: leaf.cid, Tsize: leaf.bytes.byteLength }],
    }));
    const innerCid = CID.createV0(await sha256.digest(inner));
    await spool.put(small.cid, small.bytes);
    await spool.put(innerCid, inner);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(spool.spooledBytes, small.bytes.byteLength + inner.byteLength);
    await spool.put(leaf.cid, leaf.bytes);
    assert.equal(spool.spooledBytes, small.bytes.byteLength + inner.byteLength, "the leaf waits to be placed");
    // A copy cannot say where the framing ends: the block goes to the spool rather than be placed.
    await Deno.writeFile(`${dir}/file`, leaf.data);
    spool.place(leaf.cid, `${dir}/file`, 0, leaf.data.slice());
    assert.equal(spool.placed(leaf.cid), undefined);
    assert.equal(spool.spooledBytes, small.bytes.byteLength + inner.byteLength + leaf.bytes.byteLength);
    for (const [cid, bytes] of [[small.cid, small.bytes], [innerCid, inner], [leaf.cid, leaf.bytes]] as const) {
      assert.deepEqual(await spool.read(cid), bytes);
    }
  } finally {
    await spool.destroy();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("with placeLeaves and memory full: no reader spools at once; a reader stuck on a missing block gets room made", async () => {
  const dir = await Deno.makeTempDir();
  const spool = await new BlockSpool(`${dir}/spool`, { placeLeaves: true, memoryBytes: 100_000 }).open();
  try {
    const blocks = await Promise.all(Array.from({ length: 12 }, (_, i) => rawBlock(30_000, i)));
    // No reader: past the memory bound, blocks go to the spool file (and put does not wait for anyone).
    for (const b of blocks.slice(0, 6)) await spool.put(b.cid, b.bytes);
    assert.ok(spool.spooledBytes > 0, "spooled without a reader");
    assert.ok(spool.memoryBytes <= 130_000, `memory bounded: ${spool.memoryBytes}`);
    // A reader that is not stuck: puts past the bound wait for it to place what memory holds.
    let stalled: number | undefined = undefined;
    spool.attach(() => stalled);
    const before = spool.spooledBytes;
    const waiting = Promise.all(blocks.slice(6).map((b) => spool.put(b.cid, b.bytes)));
    let settled = false;
    waiting.then(() => settled = true);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(settled, false, "put waits while the reader works");
    assert.equal(spool.spooledBytes, before, "nothing spooled while the reader is not stuck");
    // Now the reader waits on a block that is not there: what memory holds came out of order and is spooled.
    stalled = 1;
    spool.kick();
    await waiting;
    assert.ok(spool.spooledBytes > before, "room was made by spooling");
    for (const b of blocks) assert.deepEqual(await spool.read(b.cid), b.bytes);
  } finally {
    await spool.destroy();
  }
  await Deno.remove(dir, { recursive: true });
});
