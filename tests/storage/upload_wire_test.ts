/**
 * What an upload looks like on the wire, seen by a raw TCP listener (no HTTP library between the agent and the
 * assertions): an exact `Content-Length` and never `Transfer-Encoding: chunked` (how Pinata treats chunked request
 * bodies is unknown), the body streamed from disk with bounded memory, and an abort that stops it at once.
 */
import assert from "node:assert/strict";
import { Storage, StorageError } from "../../src/storage/mod.ts";
import { capturedLogger, localStack, tempDir, testConfig, writeRandomFile } from "./support.ts";
import { KUBO_CIDV1, oracleTreeCid } from "./unixfs_oracle.ts";

const AGENT = "0x" + "ef".repeat(20);
const MiB = 1024 * 1024;

/** One request as the listener received it. */
interface Received {
  head: string;
  headers: Map<string, string>;
  /** Body bytes received (the chunk framing included, if the client sent chunks). */
  bodyBytes: number;
  /** The last bytes of the body. */
  tail: string;
}

/**
 * A TCP listener that reads one HTTP request per connection byte by byte as it arrives (discarding the body) and
 * answers 200 with `IpfsHash` = `cid()`; `stall` makes it stop reading after the head.
 */
function wireRecorder(cid: () => string, options: { stall?: boolean } = {}) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: Received[] = [];
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      handle(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  async function handle(conn: Deno.Conn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      text += new TextDecoder("latin1").decode(buf.subarray(0, n));
    }
    const at = text.indexOf("\r\n\r\n");
    const head = text.slice(0, at);
    const headers = new Map<string, string>();
    for (const line of head.split("\r\n").slice(1)) {
      const i = line.indexOf(":");
      headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    const got: Received = { head, headers, bodyBytes: text.length - at - 4, tail: text.slice(at + 4).slice(-64) };
    received.push(got);
    if (options.stall) return await new Promise(() => {}); // never reads again; closed by dispose
    const chunked = /chunked/i.test(headers.get("transfer-encoding") ?? "");
    const length = Number(headers.get("content-length") ?? "0");
    while (chunked ? !got.tail.endsWith("0\r\n\r\n") : got.bodyBytes < length) {
      const n = await conn.read(buf);
      if (n === null) return;
      got.bodyBytes += n;
      got.tail = (got.tail + new TextDecoder("latin1").decode(buf.subarray(Math.max(0, n - 64), n))).slice(-64);
    }
    const body = JSON.stringify({ IpfsHash: cid(), PinSize: 1, Timestamp: new Date().toISOString() });
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n` +
        `connection: close\r\n\r\n${body}`,
    ));
  }
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    received,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

async function output(root: string, files: Record<string, number>): Promise<{ out: string; cid: string }> {
  const out = `${root}/out`;
  for (const [rel, size] of Object.entries(files)) {
    const path = `${out}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await writeRandomFile(path, size);
  }
  return { out, cid: await oracleTreeCid(out, KUBO_CIDV1) };
}

Deno.test("an upload sends an exact Content-Length and no chunked Transfer-Encoding", async () => {
  await using dir = await tempDir();
  const { out, cid } = await output(dir.path, { "result.bin": 5 * MiB + 3, "logs/run.txt": 700, "empty": 0 });
  await using wire = wireRecorder(() => cid);
  const storage = new Storage(testConfig(`${dir.path}/data`, { pinataApiUrl: wire.url }), capturedLogger().logger);
  const res = await storage.uploadOutput(out, { jobId: "wire-1", agentAddress: AGENT });
  assert.equal(res.cid, cid);
  assert.equal(wire.received.length, 1);
  const [req] = wire.received;
  assert.match(req.head, /^POST \/pinning\/pinFileToIPFS HTTP\/1\.1/);
  assert.equal(req.headers.get("transfer-encoding"), undefined, `no Transfer-Encoding in:\n${req.head}`);
  assert.ok(req.headers.has("content-length"), `a Content-Length in:\n${req.head}`);
  assert.equal(Number(req.headers.get("content-length")), req.bodyBytes, "the announced length is what was sent");
  assert.ok(req.bodyBytes > 5 * MiB + 3 + 700, "the files' bytes are in the body");
  const boundary = /boundary=(\S+)/.exec(req.headers.get("content-type") ?? "")?.[1];
  assert.ok(boundary && req.tail.endsWith(`--${boundary}--\r\n`), "the body ends with the closing boundary");
});

Deno.test("a 256 MiB output streams from disk with the agent's memory bounded", async () => {
  await using dir = await tempDir();
  const { out, cid } = await output(dir.path, { "big.bin": 256 * MiB });
  await using wire = wireRecorder(() => cid);
  const storage = new Storage(testConfig(`${dir.path}/data`, { pinataApiUrl: wire.url }), capturedLogger().logger);
  const base = Deno.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  try {
    await storage.uploadOutput(out, { jobId: "wire-big", agentAddress: AGENT });
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, Deno.memoryUsage().rss);
  assert.equal(Number(wire.received[0].headers.get("content-length")), wire.received[0].bodyBytes);
  // A body held in memory (a Blob, a buffered request) would add the whole 256 MiB.
  assert.ok(peak - base < 64 * MiB, `RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB during a 256 MiB upload`);
});

Deno.test("an upload aborted while the service stops reading ends at once, its file closed, output spooled", async () => {
  await using dir = await tempDir();
  const { out, cid } = await output(dir.path, { "big.bin": 64 * MiB });
  await using wire = wireRecorder(() => cid, { stall: true });
  const storage = new Storage(testConfig(`${dir.path}/data`, { pinataApiUrl: wire.url }), capturedLogger().logger);
  const abort = new AbortController();
  const started = Date.now();
  setTimeout(() => abort.abort(new Error("shutdown")), 300);
  const error = await storage.uploadOutput(out, { jobId: "wire-abort", agentAddress: AGENT, signal: abort.signal })
    .then(() => assert.fail("an aborted upload must fail"), (e) => e);
  assert.ok(error instanceof StorageError);
  assert.equal(error.detail, "aborted");
  assert.ok(Date.now() - started < 3000, `ended ${Date.now() - started} ms after it started`);
  assert.equal(wire.received.length, 1);
  assert.ok(wire.received[0].headers.has("content-length"));
  assert.deepEqual((await storage.listSpooledOutputs()).map((s) => s.jobId), ["wire-abort"]);
  // The test's resource sanitizer fails it if the file being read was left open.
});

Deno.test("the local service's early 401 on a 16 MiB upload is reported as a rejected key, not a broken connection", async () => {
  await using stack = await localStack();
  const storage = new Storage({ ...stack.config, pinataJwt: "not-the-service-jwt-0123456789" }, stack.logger);
  const out = `${stack.dir}/out`;
  await Deno.mkdir(out);
  await writeRandomFile(`${out}/big.bin`, 16 * MiB);
  await assert.rejects(
    storage.uploadOutput(out, { jobId: "early-401", agentAddress: AGENT }),
    (e: StorageError) => e.detail === "unauthorized" && /HTTP 401/.test(e.message),
  );
});
