import assert from "node:assert/strict";
import * as dagPb from "@ipld/dag-pb";
import { MemoryBlockstore } from "blockstore-core";
import { UnixFS } from "ipfs-unixfs";
import { importer } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import type { StorageError } from "./errors.ts";
import { exportToDir, type Placement, type ReadableBlocks } from "./unixfs_export.ts";

const LIMITS = { maxBytes: 1 << 30, maxEntries: 1000 };

/** A file of `size` pseudo-random bytes imported with raw leaves of 1 KiB (so it has many leaves and inner nodes). */
async function rawLeafFile(size: number): Promise<{ cid: CID; bytes: Uint8Array; store: MemoryBlockstore }> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 2654435761) >>> 24;
  const store = new MemoryBlockstore();
  let cid: CID | undefined;
  const opts = { cidVersion: 1 as const, rawLeaves: true, chunker: undefined, maxChildrenPerNode: 8 };
  // deno-lint-ignore no-explicit-any
  const { fixedSize } = await import("ipfs-unixfs-importer/chunker") as any;
  for await (const e of importer([{ content: bytes }], store, { ...opts, chunker: fixedSize({ chunkSize: 1024 }) })) {
    cid = e.cid;
  }
  return { cid: cid!, bytes, store };
}

/** A blockstore with placements, counting the raw leaves it was asked for, failing after `failAfter` of them. */
function placing(store: MemoryBlockstore, places: Map<string, Placement>, failAfter = Infinity) {
  const stats = { rawReads: 0 };
  const blocks: ReadableBlocks = {
    async *get(cid) {
      if (cid.code === 0x55 && ++stats.rawReads > failAfter) throw new Error("connection reset (injected)");
      yield* store.get(cid);
    },
    placed: (cid) => places.get(cid.toString()),
    place: (cid, path, offset) => {
      if (!places.has(cid.toString())) places.set(cid.toString(), { path, offset, length: 1024 });
    },
  };
  return { blocks, stats };
}

Deno.test("an export that broke part way resumes on the written file: placed leaves are neither read nor written again", async () => {
  const dir = await Deno.makeTempDir();
  const { cid, bytes, store } = await rawLeafFile(200 * 1024);
  const places = new Map<string, Placement>();
  const first = placing(store, places, 120);
  await assert.rejects(exportToDir(cid, first.blocks, dir, LIMITS, new AbortController().signal), /injected/);
  assert.ok(places.size >= 100 && places.size <= 120, `${places.size} leaves placed before the break`);
  // Damage a byte the break left unwritten: the resumed export writes that region again.
  const path = `${dir}/input`;
  const file = await Deno.open(path, { write: true });
  await file.seek(199 * 1024, Deno.SeekMode.Start);
  await file.write(new Uint8Array([1, 2, 3]));
  file.close();
  const placedBefore = places.size;
  const second = placing(store, places);
  const res = await exportToDir(cid, second.blocks, dir, LIMITS, new AbortController().signal);
  assert.equal(res.bytes, bytes.byteLength);
  assert.equal(second.stats.rawReads, 200 - placedBefore, "only the leaves not placed were read");
  assert.deepEqual(await Deno.readFile(path), bytes, "byte-identical");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a placed leaf is skipped only at its own offset of its own file; elsewhere it is read", async () => {
  const dir = await Deno.makeTempDir();
  const { cid, bytes, store } = await rawLeafFile(16 * 1024);
  // Every leaf claims to be at offset 0 of another file: nothing may be skipped.
  const elsewhere = `${dir}/other`;
  await Deno.writeFile(elsewhere, new Uint8Array(1024));
  const lying = new Map<string, Placement>();
  for await (const { cid: c } of store.getAll()) {
    if (c.code === 0x55) lying.set(c.toString(), { path: elsewhere, offset: 0, length: 1024 });
  }
  const { blocks, stats } = placing(store, lying);
  await Deno.mkdir(`${dir}/out`);
  await exportToDir(cid, blocks, `${dir}/out`, LIMITS, new AbortController().signal);
  assert.equal(stats.rawReads, 16);
  assert.deepEqual(await Deno.readFile(`${dir}/out/input`), bytes);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a directory naming one entry twice is refused (unsafe_name), never overwritten", async () => {
  const dir = await Deno.makeTempDir();
  const store = new MemoryBlockstore();
  const leaf = new TextEncoder().encode("hello\n");
  const leafCid = CID.createV1(0x55, await sha256.digest(leaf));
  await store.put(leafCid, leaf);
  const node = dagPb.encode({
    Data: new UnixFS({ type: "directory" }).marshal(),
    Links: [{ Name: "a.txt", Hash: leafCid, Tsize: 6 }, { Name: "a.txt", Hash: leafCid, Tsize: 6 }],
  });
  const root = CID.createV1(0x70, await sha256.digest(node));
  await store.put(root, node);
  const { blocks } = placing(store, new Map());
  const error = await exportToDir(root, blocks, dir, LIMITS, new AbortController().signal).then(
    () => assert.fail("exported"),
    (e) => e,
  );
  assert.equal((error as StorageError).detail, "unsafe_name");
  assert.match((error as Error).message, /"a\.txt".*twice/);
  await Deno.remove(dir, { recursive: true });
});
