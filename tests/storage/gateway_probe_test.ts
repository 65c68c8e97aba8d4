/** The trustless-gateway spec's probe (`/ipfs/bafkqaaa`, raw and CAR) tells gateways that can serve inputs apart. */
import assert from "node:assert/strict";
import { type GatewayMode, serveGateway } from "../../src/storage/dev_gateway.ts";
import { DiskBlockstore } from "../../src/storage/disk_blockstore.ts";
import { logGatewayProbes, probeGateway, probeGateways } from "../../src/storage/gateway_probe.ts";
import { capturedLogger, localStack, tempDir } from "./support.ts";

async function withStandIns(modes: GatewayMode[], fn: (urls: string[]) => Promise<void>): Promise<void> {
  await using dir = await tempDir();
  const store = await new DiskBlockstore(`${dir.path}/blocks`).open();
  const servers = modes.map((mode) => serveGateway({ store, mode }));
  try {
    await fn(servers.map((s) => s.url));
  } finally {
    for (const s of servers) await s.close();
  }
}

/** A server answering every request with `status` (and a JSON body, as Pinata's gateways do). */
function answering(status: number) {
  return Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () => Response.json({ error: "nope" }, { status }),
  );
}

Deno.test("the probe finds a spec gateway trustless, raw-only and deserialized gateways for what they are", async () => {
  await withStandIns(["trustless", "raw_only", "deserialized", "legacy_car"], async ([spec, raw, plain, legacy]) => {
    const probes = await probeGateways([{ url: spec }, { url: raw }, { url: plain }, { url: legacy }]);
    assert.deepEqual(probes.map((p) => p.verdict), ["trustless", "raw_only", "not_trustless", "trustless"]);
    assert.equal(probes[0].gateway, spec);
    assert.deepEqual([probes[0].raw.contentType, probes[0].car.contentType], [
      "application/vnd.ipld.raw",
      "application/vnd.ipld.car",
    ]);
    assert.match(probes[1].summary, /raw blocks only \(CAR: HTTP 501\)/);
    assert.match(probes[2].summary, /does not speak the trustless-gateway protocol/);
    assert.match(probes[2].summary, /Content-Type application\/octet-stream/);
  });
});

Deno.test("the local IPFS service's gateway answers the probe as the spec says", async () => {
  await using stack = await localStack();
  const probe = await probeGateway({ url: stack.service.url });
  assert.equal(probe.verdict, "trustless", probe.summary);
});

Deno.test("a gateway refusing with 403, one answering 404 and a closed port are told apart, none called trustless", async () => {
  await using refusing = answering(403);
  await using missing = answering(404);
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const probes = await probeGateways([
    { url: `http://127.0.0.1:${refusing.addr.port}` },
    { url: `http://127.0.0.1:${missing.addr.port}` },
    { url: `http://127.0.0.1:${closedPort}` },
  ], { timeoutMs: 2000 });
  assert.deepEqual(probes.map((p) => p.verdict), ["refused", "no_probe", "unreachable"]);
  assert.match(probes[0].summary, /PINATA_GATEWAY_KEY/);
});

Deno.test("start-up logging warns once per gateway inputs will not come from, naming it and what it answered", async () => {
  await withStandIns(["trustless", "deserialized"], async ([good, bad]) => {
    const { logger, writer } = capturedLogger();
    await logGatewayProbes([{ url: good }, { url: bad }], logger);
    const warnings = writer.records.filter((r) => r.level === "warn");
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0].fields.gateway, bad);
    assert.equal(warnings[0].fields.car_content_type, "application/octet-stream");
    assert.match(String(warnings[0].msg), new RegExp(`IPFS gateway ${bad} does not speak`));
  });
});

Deno.test("start-up logging says so when no gateway answers the probe", async () => {
  await withStandIns(["deserialized"], async ([bad]) => {
    const { logger, writer } = capturedLogger();
    await logGatewayProbes([{ url: bad }], logger);
    assert.ok(writer.records.some((r) => r.level === "warn" && /No configured IPFS gateway/.test(String(r.msg))));
  });
});
