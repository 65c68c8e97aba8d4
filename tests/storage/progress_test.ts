/** Transfers report progress while bytes move, and count each transfer's bytes once, retries included. */
import assert from "node:assert/strict";
import { CarBlockIterator } from "@ipld/car";
import type { ProgressReport } from "../../src/log/mod.ts";
import { Storage } from "../../src/storage/mod.ts";
import { startFaultyGateway } from "./faulty_gateway.ts";
import { startFaultyPinata } from "./faulty_pinata.ts";
import { localStack, uploadTree, writeRandomFile } from "./support.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

const AGENT = "0x" + "ef".repeat(20);
const MiB = 1024 * 1024;

/** The bytes of every block of `cid`'s DAG, as the local service's CAR holds them (read with @ipld/car). */
async function dagBlockBytes(stack: Stack, cid: string): Promise<number> {
  const res = await fetch(`${stack.service.url}/ipfs/${cid}?format=car`);
  let total = 0;
  for await (const block of await CarBlockIterator.fromIterable(res.body!)) total += block.bytes.byteLength;
  return total;
}

/** Progress options that record every report and every onBytes call. */
function recorder() {
  const reports: ProgressReport[] = [];
  const moved: number[] = [];
  return {
    reports,
    moved,
    sum: () => moved.reduce((a, b) => a + b, 0),
    // 0 ms: a report at every counted chunk, so the sequence of counts is visible.
    options: {
      progress: (r: ProgressReport) => reports.push(r),
      progressIntervalMs: 0,
      onBytes: (n: number) => moved.push(n),
    },
  };
}

function assertGrowing(reports: ProgressReport[]): void {
  const live = reports.filter((r) => !r.done);
  assert.ok(live.length >= 3, `progress reports arrive before the end (got ${live.length})`);
  for (let i = 1; i < live.length; i++) assert.ok(live[i].bytes > live[i - 1].bytes, "byte counts grow");
  assert.equal(reports.filter((r) => r.done).length, 1, "one final report");
  assert.ok(reports.at(-1)!.done, "the final report comes last");
}

Deno.test("a download reports growing verified byte counts before it ends, and the final count is the DAG's size", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "big.bin": 3 * MiB + 5, "small.txt": new TextEncoder().encode("x\n") });
  const expected = await dagBlockBytes(stack, cid);
  const rec = recorder();
  const res = await stack.storage.fetchInput(cid, `${stack.dir}/in`, rec.options);
  assert.equal(res.bytes, 3 * MiB + 7);
  assertGrowing(rec.reports);
  const last = rec.reports.at(-1)!;
  assert.equal(last.bytes, expected, "every block of the DAG counted once");
  assert.equal(last.total, expected, "the total announced by the root's link sizes");
  assert.equal(last.label, "downloading input");
  assert.equal(rec.sum(), expected, "onBytes sums to the transfer size");
});

Deno.test("a download of content with repeated blocks ends at its total: the total is corrected to the unique blocks", async () => {
  await using stack = await localStack();
  // 2 MiB of one byte: eight identical 256 KiB leaves, one block on the wire.
  const { cid } = await uploadTree(stack, { "zeros.bin": new Uint8Array(2 * MiB) });
  const rec = recorder();
  const res = await stack.storage.fetchInput(cid, `${stack.dir}/in`, rec.options);
  assert.equal(res.bytes, 2 * MiB);
  const last = rec.reports.at(-1)!;
  assert.ok(last.done);
  assert.ok(last.bytes < MiB, `the repeated leaf is counted once: ${last.bytes}`);
  assert.equal(last.total, last.bytes, "the final report is complete, not stuck short of the root's declared size");
});

Deno.test("a download resumed after a dropped connection continues its count: each block once, onBytes sums to the size", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "big.bin": 4 * MiB });
  const expected = await dagBlockBytes(stack, cid);
  // The first answer drops after 2 MiB; its verified blocks are kept and the rest is fetched on resume.
  await using cut = startFaultyGateway(stack.service.url, { kind: "break", after: 2 * MiB, times: 1 });
  const storage = new Storage({ ...stack.config, ipfsGateways: [cut.url] }, stack.logger, { fetchBackoffMs: 10 });
  const rec = recorder();
  const res = await storage.fetchInput(cid, `${stack.dir}/in`, rec.options);
  assert.ok(res.attempts >= 2, `resumed: ${res.attempts} attempts`);
  const counts = rec.reports.map((r) => r.bytes);
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i] >= counts[i - 1], `never counts back: ${counts}`);
  assert.ok(counts.some((b) => b >= MiB && b < expected), "reports during the transfer");
  assert.equal(rec.reports.at(-1)!.bytes, expected);
  assert.equal(rec.sum(), expected, "each block counted once across the attempts");
});

Deno.test("fetchInput's label names what is fetched in its log lines and progress", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "r.bin": MiB });
  const rec = recorder();
  await stack.storage.fetchInput(cid, `${stack.dir}/out`, { ...rec.options, label: "output", logger: stack.logger });
  const lines = stack.logs.records.map((r) => r.msg);
  assert.ok(lines.includes("output fetched and verified"), lines.join("\n"));
  assert.ok(!lines.some((l) => /input/.test(l)), `no line speaks of an input: ${lines.join("\n")}`);
  assert.equal(rec.reports.at(-1)!.label, "downloading output");
});

Deno.test("an upload reports growing file byte counts as the body streams out; the final count is the output's size", async () => {
  await using stack = await localStack();
  const out = `${stack.dir}/out`;
  await Deno.mkdir(`${out}/d`, { recursive: true });
  await writeRandomFile(`${out}/a.bin`, 3 * MiB + 1);
  await writeRandomFile(`${out}/d/b.bin`, 700_000);
  const rec = recorder();
  const res = await stack.storage.uploadOutput(out, { jobId: "up", agentAddress: AGENT, ...rec.options });
  assert.equal(res.bytes, 3 * MiB + 1 + 700_000);
  assertGrowing(rec.reports);
  const last = rec.reports.at(-1)!;
  assert.deepEqual([last.bytes, last.total, last.label], [res.bytes, res.bytes, "uploading output"]);
  assert.equal(rec.sum(), res.bytes, "onBytes sums to the output's size");
});

for (const script of [["500"], ["reset"]] as const) {
  Deno.test(`an upload retried after ${script[0]} restarts its count; onBytes sums to the output's size once`, async () => {
    await using stack = await localStack();
    await using proxy = startFaultyPinata(stack.service.port, [...script]);
    const storage = new Storage(
      { ...stack.config, pinataApiUrl: proxy.url, uploadRetries: 2, uploadRetryBackoff: 10 },
      stack.logger,
    );
    const out = `${stack.dir}/out`;
    await Deno.mkdir(out);
    await writeRandomFile(`${out}/a.bin`, 2 * MiB);
    const rec = recorder();
    const res = await storage.uploadOutput(out, { jobId: "retry", agentAddress: AGENT, ...rec.options });
    assert.equal(res.attempts, 2);
    const counts = rec.reports.map((r) => r.bytes);
    const drop = counts.findIndex((b, i) => i > 0 && b < counts[i - 1]);
    assert.ok(drop > 0, `the second attempt counts from zero again: ${counts.join(",")}`);
    assert.equal(rec.reports.at(-1)!.bytes, 2 * MiB);
    assert.equal(rec.sum(), 2 * MiB, "bytes re-sent by the retry are not counted twice");
  });
}
