import assert from "node:assert/strict";
import { CarWriter } from "@ipld/car";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { ingestCar } from "./car_ingest.ts";
import type { StorageError } from "./errors.ts";

const limits = { maxCarBytes: 1 << 20 };

async function block(text: string): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = new TextEncoder().encode(text);
  return { cid: CID.createV1(0x55, await sha256.digest(bytes)), bytes };
}

/** A CARv1 written by @ipld/car, naming `roots` and holding `blocks`. */
async function car(roots: CID[], blocks: { cid: CID; bytes: Uint8Array }[]): Promise<Uint8Array> {
  const { writer, out } = CarWriter.create(roots);
  const parts: Uint8Array[] = [];
  const reading = (async () => {
    for await (const p of out) parts.push(p);
  })();
  for (const b of blocks) await writer.put(b);
  await writer.close();
  await reading;
  return new Uint8Array(parts.flatMap((p) => [...p]));
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function sink() {
  const got: string[] = [];
  return { got, put: (cid: CID) => Promise.resolve(void got.push(cid.toString())) };
}

Deno.test("a CAR whose header names another root still hands over every block (header roots are not checked)", async () => {
  const [a, b, other] = await Promise.all([block("a"), block("b"), block("other")]);
  const s = sink();
  const res = await ingestCar(once(await car([other.cid], [a, b])), s, limits);
  assert.deepEqual(s.got, [a.cid.toString(), b.cid.toString()]);
  assert.deepEqual(res.roots.map(String), [other.cid.toString()]);
  assert.equal(res.truncated, false);
});

Deno.test("a CAR that ends inside a section is reported truncated with the blocks before it, not as bad data", async () => {
  const [a, b] = await Promise.all([block("first block"), block("second block")]);
  const bytes = await car([a.cid], [a, b]);
  for (const cut of [bytes.length - 1, bytes.length - 5, bytes.length - b.bytes.length - 10]) {
    const s = sink();
    const res = await ingestCar(once(bytes.subarray(0, cut)), s, limits);
    assert.equal(res.truncated, true, `cut at ${cut}`);
    assert.deepEqual(s.got, [a.cid.toString()]);
  }
  const empty = await ingestCar(once(new Uint8Array()), sink(), limits);
  assert.equal(empty.truncated, true, "an empty body is an incomplete CAR too");
});

Deno.test("bytes that are not a CAR are bad_car (input_integrity_failed)", async () => {
  const html = new TextEncoder().encode("<!DOCTYPE html><html><body>" + "x".repeat(200) + "</body></html>");
  await assert.rejects(
    ingestCar(once(html), sink(), limits),
    (e: StorageError) => e.reason === "input_integrity_failed" && e.detail === "bad_car",
  );
});

async function* pieces(bytes: Uint8Array, chunk: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < bytes.length; o += chunk) yield bytes.slice(o, o + chunk);
}

Deno.test("a CAR read in chunks of every awkward size gives each block exactly once, in order, intact", async () => {
  // Large blocks (read into memory of their own) between small ones (copied out of the read buffer).
  const sizes = [3, 300_000, 17, 16 * 1024, 16 * 1024 - 1, 1, 250_000, 40];
  const blocks = await Promise.all(sizes.map(async (size, i) => {
    const bytes = new Uint8Array(size).map((_, j) => (j + i * 13) & 0xff);
    return { cid: CID.createV1(0x55, await sha256.digest(bytes)), bytes };
  }));
  const bytes = await car([blocks[0].cid], blocks);
  for (const chunk of [1, 7, 4096, 65_536, 300_001]) {
    const got: { cid: string; bytes: Uint8Array }[] = [];
    const res = await ingestCar(pieces(bytes, chunk), {
      put: (cid, b) => Promise.resolve(void got.push({ cid: cid.toString(), bytes: b.slice() })),
    }, { maxCarBytes: bytes.length });
    assert.equal(res.truncated, false, `chunk ${chunk}`);
    assert.equal(res.carBytes, bytes.length);
    assert.deepEqual(got.map((g) => g.cid), blocks.map((b) => b.cid.toString()), `chunk ${chunk}`);
    for (const [i, g] of got.entries()) assert.deepEqual(g.bytes, blocks[i].bytes, `chunk ${chunk}, block ${i}`);
  }
  // One byte over the CAR limit is refused, whatever the chunking.
  await assert.rejects(
    ingestCar(once(bytes), sink(), { maxCarBytes: bytes.length - 1 }),
    (e: StorageError) => e.reason === "input_fetch_failed" && /exceeds/.test(e.message),
  );
});
