/**
 * How the agent copes with gateways as they are deployed (the stand-in's modes): answers that are not trustless
 * responses are told apart from bad data, a gateway that does not speak the protocol is skipped for the job, and
 * what can be verified anyway (a raw block, a file that re-imports to its CID) is accepted.
 */
import assert from "node:assert/strict";
import { exporter } from "ipfs-unixfs-exporter";
import { type GatewayMode, serveGateway } from "../../src/storage/dev_gateway.ts";
import { DiskBlockstore } from "../../src/storage/disk_blockstore.ts";
import { Storage, StorageError } from "../../src/storage/mod.ts";
import { localStack, sameBytes, uploadTree, uploadTreeV0 } from "./support.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

/** A stand-in gateway in `mode` over the local service's blocks. */
async function standIn(stack: Stack, mode: GatewayMode) {
  const store = await new DiskBlockstore(`${stack.dir}/ipfs/blocks`).open();
  return { server: serveGateway({ store, mode }), store };
}

function storageVia(stack: Stack, gateways: string[], retries = 0): Storage {
  return new Storage({ ...stack.config, ipfsGateways: gateways, inputFetchRetries: retries }, stack.logger, {
    fetchBackoffMs: 10,
  });
}

Deno.test("a directory from a gateway that answers with HTML is skipped for the job; the next gateway serves it", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "a.bin": 600_000, "b/c.txt": new TextEncoder().encode("c\n") });
  const { server: html } = await standIn(stack, "deserialized");
  await using _html = html;
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [html.url, stack.service.url], 2).fetchInput(cid, dest);
  assert.equal(res.gateway, stack.service.url);
  assert.equal(html.requests, 1, "asked once, then skipped");
  assert.ok(await sameBytes(`${source}/a.bin`, `${dest}/a.bin`));
  const warned = stack.logs.records.find((r) => r.msg === "gateway failed");
  assert.ok(warned, "the skip is logged");
  assert.match(JSON.stringify(warned), /does not speak the trustless-gateway protocol/);
});

Deno.test("only gateways that do not speak the protocol: input_fetch_failed naming each and its Content-Type", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "a.bin": 300_000, "b.bin": 300_000 });
  const { server: a } = await standIn(stack, "deserialized");
  const { server: b } = await standIn(stack, "deserialized");
  await using _a = a;
  await using _b = b;
  const error = await storageVia(stack, [a.url, b.url], 2).fetchInput(cid, `${stack.dir}/in`).then(
    () => assert.fail("should fail"),
    (e) => e,
  );
  assert.ok(error instanceof StorageError);
  assert.equal(error.reason, "input_fetch_failed");
  assert.ok(error.message.includes(`${a.url}: does not speak the trustless-gateway protocol`), error.message);
  assert.ok(error.message.includes(`${b.url}: does not speak`), error.message);
  assert.match(error.message, /Content-Type text\/html/);
  assert.deepEqual([a.requests, b.requests], [1, 1], "no retry round asks them again");
});

Deno.test("a multi-block CIDv1 file served deserialized is accepted when it re-imports to its CID (Kubo --cid-version=1)", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "model.bin": 3 * 262_144 + 5 });
  const { server, store } = await standIn(stack, "deserialized");
  await using _s = server;
  // deno-lint-ignore no-explicit-any
  const file = (await exporter(`${cid}/model.bin`, store as any)).cid;
  assert.equal(file.code, 0x70, "a dag-pb file, not a raw leaf");
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [server.url]).fetchInput(file.toString(), dest);
  assert.equal(res.gateway, server.url);
  assert.ok(await sameBytes(`${source}/model.bin`, `${dest}/input`));
});

Deno.test("a legacy CAR gateway (plain Content-Type, children first, duplicates, no header roots) serves a tree intact", async () => {
  await using stack = await localStack();
  const same = new Uint8Array(300_000).fill(7);
  const { cid, source } = await uploadTree(stack, { "a.bin": same, "b/a-again.bin": same, "c.bin": 900_000 });
  const { server } = await standIn(stack, "legacy_car");
  await using _s = server;
  const dest = `${stack.dir}/in`;
  await storageVia(stack, [server.url]).fetchInput(cid, dest);
  for (const f of ["a.bin", "b/a-again.bin", "c.bin"]) assert.ok(await sameBytes(`${source}/${f}`, `${dest}/${f}`), f);
  assert.equal(server.requests, 1, "one CAR, nothing asked again");
});

Deno.test("a gateway that serves raw blocks only (CAR requests: HTTP 501) is asked block by block", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "a.bin": 700_000, "d/e.txt": new TextEncoder().encode("e\n") });
  const { server } = await standIn(stack, "raw_only");
  await using _s = server;
  const dest = `${stack.dir}/in`;
  const res = await storageVia(stack, [server.url]).fetchInput(cid, dest);
  assert.equal(res.files, 2);
  assert.ok(await sameBytes(`${source}/a.bin`, `${dest}/a.bin`));
  assert.ok(server.requests >= 6, `one 501, then a request per block: ${server.requests}`);
});

// CIDv1 has raw leaves; CIDv0 (Kubo's default `ipfs add`, every `Qm…` file) has dag-pb leaves, placed by their data.
for (const version of [1, 0] as const) {
  Deno.test(`a 16 MiB CIDv${version} file in DFS order reaches the disk once: only the inner blocks go through the block spool`, async () => {
    await using stack = await localStack();
    const files = { "weights.bin": 16 * 1024 * 1024 };
    const { cid, source } = await (version === 1 ? uploadTree(stack, files) : uploadTreeV0(stack, files));
    assert.equal(cid.startsWith("Qm"), version === 0, cid);
    const { server } = await standIn(stack, "trustless");
    await using _s = server;
    const dest = `${stack.dir}/in`;
    const res = await storageVia(stack, [server.url]).fetchInput(cid, dest);
    assert.ok(await sameBytes(`${source}/weights.bin`, `${dest}/weights.bin`));
    console.log(`spooled ${res.spooledBytes} of ${res.bytes} bytes`);
    assert.ok(res.spooledBytes < res.bytes / 100, `${res.spooledBytes} bytes spooled: the leaves were written twice`);
  });
}

Deno.test("a 16 MiB file from a legacy CAR gateway (every block after its children) is spooled as it must be, and lands intact", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "weights.bin": 16 * 1024 * 1024 });
  const { server } = await standIn(stack, "legacy_car");
  await using _s = server;
  const dest = `${stack.dir}/in`;
  // The file's root comes last: the exporter waits on it while 16 MiB of leaves arrive, more than memory holds.
  const res = await storageVia(stack, [server.url]).fetchInput(cid, dest);
  assert.ok(await sameBytes(`${source}/weights.bin`, `${dest}/weights.bin`));
  assert.ok(res.spooledBytes > 8 * 1024 * 1024, `only ${res.spooledBytes} bytes spooled`);
  assert.equal(server.requests, 1);
});

/** 24 MiB whose 256 KiB chunks repeat five contents in an uneven pattern: leaves recur near and far apart. */
function repeatingChunks(): Uint8Array {
  const chunk = 256 * 1024;
  const variants = Array.from({ length: 5 }, () => crypto.getRandomValues(new Uint8Array(chunk / 4)));
  const out = new Uint8Array(96 * chunk);
  for (let i = 0; i < 96; i++) {
    const v = variants[(i * i + (i >> 3)) % 5];
    for (let q = 0; q < 4; q++) out.set(v, i * chunk + q * v.byteLength);
    // Every 7th chunk is unique: most blocks are new, so block memory is reused again and again.
    if (i % 7 === 0) out.set(crypto.getRandomValues(new Uint8Array(64)), i * chunk + 100);
    else if (i % 2) out.set(crypto.getRandomValues(new Uint8Array(64)), i * chunk + 1000);
  }
  return out;
}

for (const mode of ["trustless", "legacy_car"] as const) {
  for (const version of [1, 0] as const) {
    Deno.test(`repeated leaves land byte-identical while block memory is reused (CIDv${version}, ${mode} gateway)`, async () => {
      await using stack = await localStack();
      const bytes = repeatingChunks();
      const files = { "data.bin": bytes, "again/data.bin": bytes };
      // CIDv0's leaves are dag-pb: a repeat is read back from where it was placed, through its kept framing.
      const { cid, source } = await (version === 1 ? uploadTree(stack, files) : uploadTreeV0(stack, files));
      const { server } = await standIn(stack, mode);
      await using _s = server;
      const dest = `${stack.dir}/in`;
      const res = await storageVia(stack, [server.url]).fetchInput(cid, dest);
      assert.equal(res.bytes, 2 * bytes.byteLength);
      for (const f of ["data.bin", "again/data.bin"]) {
        assert.ok(await sameBytes(`${source}/${f}`, `${dest}/${f}`), `${f} differs from what was uploaded`);
      }
    });
  }
}
