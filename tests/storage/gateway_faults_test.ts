import assert from "node:assert/strict";
import { Storage, StorageError } from "../../src/storage/mod.ts";
import { type GatewayFault, startFaultyGateway } from "./faulty_gateway.ts";
import { localStack, sameBytes, storeDirectoryNamed, TEST_JWT, uploadTree } from "./support.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

/** A storage that reads only through `gateways`, with short timeouts. */
function storageVia(stack: Stack, gateways: string[], overrides: Partial<Stack["config"]> = {}): Storage {
  return new Storage({ ...stack.config, ipfsGateways: gateways, ...overrides }, stack.logger, { fetchBackoffMs: 10 });
}

async function fetchError(storage: Storage, cid: string, dest: string): Promise<{ error: StorageError; ms: number }> {
  const start = Date.now();
  const error = await storage.fetchInput(cid, dest).then(
    () => assert.fail("fetch should have failed"),
    (e) => e,
  );
  assert.ok(error instanceof StorageError, `expected StorageError, got ${error}`);
  return { error, ms: Date.now() - start };
}

async function withFault(fault: GatewayFault, check: (stack: Stack, gw: string, cid: string) => Promise<void>) {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "x.bin": 1_200_000, "y.txt": new TextEncoder().encode("y\n") });
  await using gw = startFaultyGateway(stack.service.url, fault);
  await check(stack, gw.url, cid);
  assert.ok(!stack.logs.text().includes(TEST_JWT));
}

async function isEmpty(dir: string): Promise<boolean> {
  for await (const _ of Deno.readDir(dir)) return false;
  return true;
}

Deno.test("a gateway that flips one byte fails with input_integrity_failed and leaves nothing in the input dir", async () => {
  await withFault({ kind: "flip" }, async (stack, gw, cid) => {
    const dest = `${stack.dir}/in`;
    const { error } = await fetchError(storageVia(stack, [gw]), cid, dest);
    assert.equal(error.reason, "input_integrity_failed");
    assert.match(error.message, /failed verification|hash/);
    assert.ok(await isEmpty(dest), "no unverified bytes reach the input directory");
  });
});

Deno.test("a CAR cut short is completed from the same gateway: only the missing blocks are asked again", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "x.bin": 1_200_000, "y.txt": new TextEncoder().encode("y\n") });
  await using gw = startFaultyGateway(stack.service.url, { kind: "truncate", keep: 400_000 });
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [gw.url]).fetchInput(cid, dest);
  assert.equal(res.files, 2);
  assert.ok(await sameBytes(`${source}/x.bin`, `${dest}/x.bin`));
  // The cut CAR (400 kB) plus the blocks it lacked, one request each: not a second full download.
  assert.ok(gw.bytes < 1.2 * 1_200_002, `served ${gw.bytes} bytes for a 1.2 MB input`);
  assert.ok(gw.hits > 1, "the missing blocks were asked for on their own");
});

Deno.test("a CAR whose header names another root but whose blocks are the requested DAG is accepted", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "a.bin": 700_000 });
  const other = await uploadTree(stack, { "b.txt": new TextEncoder().encode("b\n") });
  // The trustless-gateway spec: the CAR roots field is unspecified, clients SHOULD ignore it.
  await using gw = startFaultyGateway(stack.service.url, { kind: "header_root", root: other.cid });
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [gw.url]).fetchInput(cid, dest);
  assert.equal(res.gateway, gw.url);
  assert.equal(gw.hits, 1, "one CAR request, nothing asked again");
  assert.ok(await sameBytes(`${source}/a.bin`, `${dest}/a.bin`));
});

Deno.test("a gateway answering with another DAG's CAR fails with input_fetch_failed (missing_block), not bad data", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "a.txt": new TextEncoder().encode("a\n") });
  const other = await uploadTree(stack, { "b.txt": new TextEncoder().encode("b\n") });
  await using gw = startFaultyGateway(stack.service.url, { kind: "wrong_root", serve: other.cid });
  const { error } = await fetchError(storageVia(stack, [gw.url]), cid, `${stack.dir}/in`);
  assert.equal(error.reason, "input_fetch_failed");
  assert.equal(error.detail, "missing_block");
  assert.ok(error.message.includes(cid), error.message);
});

Deno.test("a gateway that hangs mid-download fails with input_fetch_failed within the inactivity timeouts", async () => {
  // It sends 300 kB in all, then nothing: the first attempt stalls, the resumed one gets no byte.
  await withFault({ kind: "stall", after: 300_000 }, async (stack, gw, cid) => {
    const storage = storageVia(stack, [gw], { ipfsInactivityTimeout: 500 });
    const { error, ms } = await fetchError(storage, cid, `${stack.dir}/in`);
    assert.equal(error.reason, "input_fetch_failed");
    assert.match(error.message, /No data for 500 ms/);
    assert.ok(ms < 5_000, `took ${ms} ms`);
  });
});

Deno.test("a gateway that never answers fails with input_fetch_failed within the request timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) conns.push(c);
  })().catch(() => {});
  try {
    await using stack = await localStack();
    const { cid } = await uploadTree(stack, { "x": new Uint8Array([1]) });
    const gw = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    const { error, ms } = await fetchError(
      storageVia(stack, [gw], { ipfsRequestTimeout: 400 }),
      cid,
      `${stack.dir}/in`,
    );
    assert.equal(error.reason, "input_fetch_failed");
    assert.ok(ms < 5_000, `took ${ms} ms`);
  } finally {
    listener.close();
    for (const c of conns) c.close();
    await accepting;
  }
});

Deno.test("a gzip bomb fails with input_integrity_failed quickly and memory stays bounded", async () => {
  await withFault({ kind: "gzip_bomb" }, async (stack, gw, cid) => {
    const before = Deno.memoryUsage().rss;
    const { error, ms } = await fetchError(storageVia(stack, [gw]), cid, `${stack.dir}/in`);
    const grew = Deno.memoryUsage().rss - before;
    assert.equal(error.reason, "input_integrity_failed");
    // Identity encoding is requested and nothing is inflated: the gzip bytes are refused as a malformed CAR.
    assert.equal(error.detail, "bad_car");
    assert.ok(ms < 10_000, `took ${ms} ms`);
    assert.ok(grew < 100 * 1024 * 1024, `RSS grew by ${grew} bytes`);
  });
});

Deno.test("a CAR section announcing 2^40 bytes is refused before it is buffered (too_large)", async () => {
  await withFault({ kind: "endless_section" }, async (stack, gw, cid) => {
    const before = Deno.memoryUsage().rss;
    const { error, ms } = await fetchError(storageVia(stack, [gw]), cid, `${stack.dir}/in`);
    const grew = Deno.memoryUsage().rss - before;
    assert.equal(error.reason, "input_integrity_failed");
    assert.equal(error.detail, "too_large");
    assert.ok(ms < 10_000, `took ${ms} ms`);
    assert.ok(grew < 100 * 1024 * 1024, `RSS grew by ${grew} bytes`);
  });
});

Deno.test("first gateway broken (HTTP 502), second good: the input is fetched from the second", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "x.bin": 500_000 });
  await using broken = startFaultyGateway(stack.service.url, { kind: "status", status: 502 });
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [broken.url, stack.service.url]).fetchInput(cid, dest);
  assert.equal(res.gateway, stack.service.url);
  assert.equal(broken.hits, 1);
  assert.ok(await sameBytes(`${source}/x.bin`, `${dest}/x.bin`));
});

Deno.test("first gateway serves corrupt bytes, second good: success, nothing of the first remains", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "x.bin": 600_000, "z/y.bin": 10 });
  await using bad = startFaultyGateway(stack.service.url, { kind: "flip" });
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [bad.url, stack.service.url]).fetchInput(cid, dest);
  assert.equal(res.files, 2);
  assert.ok(await sameBytes(`${source}/x.bin`, `${dest}/x.bin`));
  assert.ok(await sameBytes(`${source}/z/y.bin`, `${dest}/z/y.bin`));
});

Deno.test("all gateways failing: input_fetch_failed summarizing each gateway, after the configured retries", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "x": new Uint8Array([1]) });
  await using a = startFaultyGateway(stack.service.url, { kind: "status", status: 503 });
  await using b = startFaultyGateway(stack.service.url, { kind: "status", status: 404 });
  const { error } = await fetchError(
    storageVia(stack, [a.url, b.url], { inputFetchRetries: 2 }),
    cid,
    `${stack.dir}/in`,
  );
  assert.equal(error.reason, "input_fetch_failed");
  assert.ok(error.message.includes(a.url) && error.message.includes(b.url));
  assert.match(error.message, /HTTP 503/);
  assert.match(error.message, /HTTP 404/);
  assert.equal(a.hits, 3);
  assert.equal(b.hits, 3);
});

Deno.test("an input over INPUT_MAX_BYTES fails with input_fetch_failed (too_large) without trying other gateways", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "x.bin": 300_000 });
  await using second = startFaultyGateway(stack.service.url, { kind: "pass" });
  const storage = storageVia(stack, [stack.service.url, second.url], { inputMaxBytes: 100_000 });
  const { error } = await fetchError(storage, cid, `${stack.dir}/in`);
  assert.equal(error.reason, "input_fetch_failed");
  assert.equal(error.detail, "too_large");
  assert.match(error.message, /INPUT_MAX_BYTES/);
  assert.equal(second.hits, 0);
});

Deno.test("a directory over INPUT_MAX_ENTRIES is refused", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, {
    "a": new Uint8Array([1]),
    "b": new Uint8Array([2]),
    "c": new Uint8Array([3]),
  });
  const { error } = await fetchError(
    storageVia(stack, [stack.service.url], { inputMaxEntries: 2 }),
    cid,
    `${stack.dir}/in`,
  );
  assert.equal(error.detail, "too_large");
  assert.match(error.message, /INPUT_MAX_ENTRIES/);
});

for (const name of ["..", "a/../../etc", "/abs", "nul\0byte"]) {
  Deno.test(`a directory entry named ${JSON.stringify(name)} is refused and nothing escapes the input dir`, async () => {
    await using stack = await localStack();
    const cid = await storeDirectoryNamed(stack, name);
    const dest = `${stack.dir}/jobs/in`;
    const { error } = await fetchError(storageVia(stack, [stack.service.url]), cid, dest);
    assert.equal(error.detail, "unsafe_name");
    assert.ok(await isEmpty(dest));
    assert.deepEqual([...Deno.readDirSync(`${stack.dir}/jobs`)].map((e) => e.name), ["in"]);
  });
}

Deno.test("raw-block mode (IPFS_FETCH_FORMAT=raw) retrieves and verifies a multi-block directory", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "x.bin": 900_000, "d/y": new Uint8Array([7]) });
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [stack.service.url], { ipfsFetchFormat: "raw" }).fetchInput(cid, dest);
  assert.equal(res.files, 2);
  assert.ok(await sameBytes(`${source}/x.bin`, `${dest}/x.bin`));
});

Deno.test("raw-block mode through a byte-flipping gateway fails with input_integrity_failed", async () => {
  await withFault({ kind: "flip" }, async (stack, gw, cid) => {
    const { error } = await fetchError(storageVia(stack, [gw], { ipfsFetchFormat: "raw" }), cid, `${stack.dir}/in`);
    assert.equal(error.reason, "input_integrity_failed");
  });
});
