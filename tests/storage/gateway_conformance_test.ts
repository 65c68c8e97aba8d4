/**
 * Retrieval of the Kubo-made CARs of the IPFS gateway-conformance suite: what lands in the input directory is what
 * the fixtures' recipes wrote, and the broken fixtures fail with reasons that say why.
 */
import assert from "node:assert/strict";
import { CarBlockIterator } from "@ipld/car";
import { fetchInput, type FetchInputOptions, StorageError } from "../../src/storage/mod.ts";
import { FIXTURES, loadFixtures } from "./conformance_gateway.ts";
import { CONFORMANCE_TREES, SYMLINK_CAR_FOO } from "./kubo_vectors.ts";
import { tempDir } from "./support.ts";

function options(gateways: string[], overrides: Partial<FetchInputOptions> = {}): FetchInputOptions {
  return {
    gateways: gateways.map((url) => ({ url })),
    maxBytes: 1 << 30,
    maxEntries: 1000,
    requestTimeoutMs: 5000,
    inactivityTimeoutMs: 2000,
    totalTimeoutMs: 30_000,
    retries: 0,
    backoffBaseMs: 10,
    ...overrides,
  };
}

async function tree(dir: string, prefix = ""): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) Object.assign(out, await tree(`${dir}/${e.name}`, `${rel}/`));
    else out[rel] = await Deno.readTextFile(`${dir}/${e.name}`);
  }
  return out;
}

async function failure(p: Promise<unknown>): Promise<StorageError> {
  const error = await p.then(() => assert.fail("the retrieval should have failed"), (e) => e);
  assert.ok(error instanceof StorageError, `expected StorageError, got ${error}`);
  return error;
}

Deno.test("the stand-in gateway's CAR of each UnixFS fixture is byte-identical to the CAR Kubo exported", async () => {
  const cars = [...CONFORMANCE_TREES.map((t) => t.car), "symlink.car", "gateway-raw-block.car"];
  for (const car of cars) {
    await using fx = await loadFixtures(car);
    const gw = fx.gateway();
    const res = await fetch(`${gw.url}/ipfs/${fx.roots[car]}?format=car`, {
      headers: { accept: "application/vnd.ipld.car" },
    });
    assert.equal(res.headers.get("content-type"), "application/vnd.ipld.car;version=1;order=dfs;dups=n");
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), await Deno.readFile(`${FIXTURES}${car}`), car);
  }
});

for (const fixture of CONFORMANCE_TREES) {
  Deno.test(`${fixture.car} lands in the input directory byte-identical to what its recipe wrote`, async () => {
    await using fx = await loadFixtures(fixture.car);
    await using dest = await tempDir();
    const gw = fx.gateway();
    const res = await fetchInput(fx.roots[fixture.car].toString(), `${dest.path}/in`, options([gw.url]));
    assert.deepEqual(await tree(`${dest.path}/in`), fixture.files);
    assert.equal(res.files, Object.keys(fixture.files).length);
    assert.equal(gw.requests, 1, "one CAR request");
  });
}

Deno.test("dir-with-files.car through a legacy CAR gateway (no order, duplicates, no header roots) lands the same", async () => {
  const fixture = CONFORMANCE_TREES.find((t) => t.car === "dir-with-files.car")!;
  await using fx = await loadFixtures(fixture.car);
  await using dest = await tempDir();
  const gw = fx.gateway("legacy_car");
  // The stand-in really sends children first and the shared ascii block twice.
  const car = await fetch(`${gw.url}/ipfs/${fx.roots[fixture.car]}?format=car`);
  const order = [];
  for await (const b of await CarBlockIterator.fromIterable(car.body!)) order.push(b.cid.toString());
  assert.equal(order.at(-1), fx.roots[fixture.car].toString(), "the root comes last");
  assert.ok(order.length > new Set(order).size, "duplicates are sent");
  await fetchInput(fx.roots[fixture.car].toString(), `${dest.path}/in`, options([gw.url]));
  assert.deepEqual(await tree(`${dest.path}/in`), fixture.files);
});

Deno.test("symlink.car is refused (input_fetch_failed, unsupported) and nothing stays in the input directory", async () => {
  await using fx = await loadFixtures(SYMLINK_CAR_FOO.car);
  await using dest = await tempDir();
  const gw = fx.gateway();
  const second = fx.gateway();
  const error = await failure(
    fetchInput(fx.roots[SYMLINK_CAR_FOO.car].toString(), `${dest.path}/in`, options([gw.url, second.url])),
  );
  assert.equal(error.reason, "input_fetch_failed");
  assert.equal(error.detail, "unsupported");
  assert.match(error.message, /"bar" is a symlink/);
  assert.equal(second.requests, 0, "a property of the content: no other gateway is asked");
  assert.deepEqual([...Deno.readDirSync(`${dest.path}/in`)], []);
});

Deno.test("the missing-block CAR fails with input_fetch_failed (missing_block) naming the block no gateway has", async () => {
  const car = "file-3k-and-3-blocks-missing-block.car";
  const removed = "QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W"; // the recipe's `.Links[1]`
  await using fx = await loadFixtures(car);
  await using dest = await tempDir();
  const [a, b] = [fx.gateway(), fx.gateway()];
  const error = await failure(fetchInput(fx.roots[car].toString(), `${dest.path}/in`, options([a.url, b.url])));
  assert.equal(error.reason, "input_fetch_failed", "a block that is not there is not bad data");
  assert.equal(error.detail, "missing_block");
  assert.ok(error.message.includes(removed), error.message);
  assert.ok(b.requests > 0, "the next gateway was asked for what the first lacked");
  assert.ok(b.bytes < 2000, `the second gateway was not asked for the whole file again (${b.bytes} bytes)`);
  assert.deepEqual([...Deno.readDirSync(`${dest.path}/in`)], []);
});

Deno.test("the dag-cbor CAR fails with input_fetch_failed (unsupported) naming the entry and its codec", async () => {
  const car = "dir-with-dag-cbor-with-links.car";
  await using fx = await loadFixtures(car);
  await using dest = await tempDir();
  const [a, b] = [fx.gateway(), fx.gateway()];
  const error = await failure(fetchInput(fx.roots[car].toString(), `${dest.path}/in`, options([a.url, b.url])));
  assert.equal(error.reason, "input_fetch_failed");
  assert.equal(error.detail, "unsupported");
  assert.match(error.message, /"document" \(bafyreidy4q6mmetut5jzc54ambsfnatbyoujmwbfzyyolqw24majazwgha\) .*dag-cbor/);
  assert.equal(b.requests, 0, "a property of the content: no other gateway is asked");
});

Deno.test("a raw-block CID is accepted from a gateway that ignores ?format=raw and sends the file's bytes", async () => {
  const car = "gateway-raw-block.car";
  const leaf = "bafkreihhpc5y2pqvl5rbe5uuyhqjouybfs3rvlmisccgzue2kkt5zq6upq"; // dir/ascii.txt
  await using fx = await loadFixtures(car);
  await using dest = await tempDir();
  const gw = fx.gateway("deserialized");
  const probe = await fetch(`${gw.url}/ipfs/${leaf}?format=raw`, { headers: { accept: "application/vnd.ipld.raw" } });
  assert.equal(probe.headers.get("content-type"), "application/octet-stream", "the stand-in ignores the format");
  await probe.body?.cancel();
  const res = await fetchInput(leaf, `${dest.path}/in`, options([gw.url]));
  assert.equal(res.bytes, 31);
  assert.equal(await Deno.readTextFile(`${dest.path}/in/input`), "hello application/vnd.ipld.raw\n");
});

Deno.test("a directory from a gateway that answers ?format=car with an HTML page: input_fetch_failed naming the gateway", async () => {
  const car = "gateway-raw-block.car";
  await using fx = await loadFixtures(car);
  await using dest = await tempDir();
  const gw = fx.gateway("deserialized");
  const error = await failure(
    fetchInput(fx.roots[car].toString(), `${dest.path}/in`, options([gw.url], { retries: 2 })),
  );
  assert.equal(error.reason, "input_fetch_failed", "not bytes that contradict a CID");
  assert.ok(error.message.includes(gw.url), error.message);
  assert.match(error.message, /does not speak the trustless-gateway protocol.*Content-Type text\/html \(a web page\)/);
  assert.equal(gw.requests, 1, "skipped for the rest of the job, retries included");
});

Deno.test("a Kubo CIDv0 file served deserialized is accepted: its bytes re-import to the CID under Kubo's defaults", async () => {
  const foo = "Qme2y5HA5kvo2jAx13UsnV5bQJVijiAJCPvaW3JGQWhvJZ"; // symlink.car's foo: `ipfs add -r`, Kubo 0.18.1
  await using fx = await loadFixtures(SYMLINK_CAR_FOO.car);
  await using dest = await tempDir();
  const gw = fx.gateway("deserialized");
  const res = await fetchInput(foo, `${dest.path}/in`, options([gw.url]));
  assert.equal(await Deno.readTextFile(`${dest.path}/in/input`), SYMLINK_CAR_FOO.content);
  assert.equal(res.bytes, SYMLINK_CAR_FOO.content.length);
});

Deno.test("a file served deserialized that no known profile rebuilds (256-byte chunks) is refused, naming what was tried", async () => {
  const multiblock = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa"; // `--chunker=size-256`
  await using fx = await loadFixtures("dir-with-files.car");
  await using dest = await tempDir();
  const gw = fx.gateway("deserialized");
  const error = await failure(fetchInput(multiblock, `${dest.path}/in`, options([gw.url], { retries: 1 })));
  assert.equal(error.reason, "input_fetch_failed", "bytes the gateway calls a file are not bad data");
  assert.match(error.message, /Content-Type application\/octet-stream/);
  assert.match(error.message, /kubo-cidv1 gives baf\w+, unixfs-v1-2025 gives baf\w+/);
  assert.equal(gw.requests, 1, "skipped for the rest of the job");
  assert.deepEqual([...Deno.readDirSync(`${dest.path}/in`)], []);
});
