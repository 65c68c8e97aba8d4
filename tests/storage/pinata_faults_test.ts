import assert from "node:assert/strict";
import { EMPTY_DIRECTORY_CID, Storage, StorageError } from "../../src/storage/mod.ts";
import { type PinFault, startFaultyPinata } from "./faulty_pinata.ts";
import { localStack, sameBytes, TEST_JWT, writeRandomFile } from "./support.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

const AGENT = "0x" + "cd".repeat(20);

/** An output directory of `size` random bytes plus a small nested file. */
async function makeOutput(stack: Stack, name: string, size = 600_000): Promise<string> {
  const dir = `${stack.dir}/${name}`;
  await Deno.mkdir(`${dir}/sub`, { recursive: true });
  await writeRandomFile(`${dir}/result.bin`, size);
  await Deno.writeTextFile(`${dir}/sub/log.txt`, "done\n");
  return dir;
}

/** A storage uploading through a fault proxy in front of the local service. */
function viaFaults(stack: Stack, script: PinFault[], retries = 3) {
  const proxy = startFaultyPinata(stack.service.port, script);
  const storage = new Storage(
    { ...stack.config, pinataApiUrl: proxy.url, uploadRetries: retries, uploadRetryBackoff: 10 },
    stack.logger,
  );
  return { proxy, storage };
}

function assertNoJwt(stack: Stack, error?: unknown): void {
  assert.ok(!stack.logs.text().includes(TEST_JWT), "the JWT must never be logged");
  if (error instanceof Error) {
    assert.ok(!error.message.includes(TEST_JWT));
    assert.ok(!JSON.stringify(error, Object.getOwnPropertyNames(error)).includes(TEST_JWT));
  }
}

for (const script of [["429", "429"], ["500", "reset"], ["503", "reset", "429"]] as PinFault[][]) {
  Deno.test(`Pinata answering ${script.join(", ")} is retried with backoff until the upload succeeds`, async () => {
    await using stack = await localStack();
    const { proxy, storage } = viaFaults(stack, script);
    await using _ = proxy;
    const out = await makeOutput(stack, "out");
    const copy = `${stack.dir}/copy`;
    await new Deno.Command("cp", { args: ["-a", out, copy] }).output();
    const res = await storage.uploadOutput(out, { jobId: "job-1", agentAddress: AGENT });
    assert.equal(res.attempts, script.length + 1);
    assert.equal(proxy.connections, script.length + 1);
    assert.equal(res.files, 2);
    assert.deepEqual(await storage.listSpooledOutputs(), [], "an uploaded output leaves the spool");
    const dest = `${stack.dir}/in`;
    await stack.storage.fetchInput(res.cid, dest);
    assert.ok(await sameBytes(`${copy}/result.bin`, `${dest}/result.bin`));
    assertNoJwt(stack);
  });
}

Deno.test("a first attempt cut mid-body: the local CID, hashed from what that attempt read and the rest from disk, matches", async () => {
  await using stack = await localStack();
  const { proxy, storage } = viaFaults(stack, ["reset"]);
  await using _ = proxy;
  // Several MiB: the cut comes after the first MiB of the file, long before its end.
  const out = await makeOutput(stack, "out", 12 * 1024 * 1024 + 5);
  const copy = `${stack.dir}/copy`;
  await new Deno.Command("cp", { args: ["-a", out, copy] }).output();
  const res = await storage.uploadOutput(out, { jobId: "job-cut", agentAddress: AGENT });
  assert.equal(res.attempts, 2);
  const dest = `${stack.dir}/in`;
  await stack.storage.fetchInput(res.cid, dest);
  assert.ok(await sameBytes(`${copy}/result.bin`, `${dest}/result.bin`));
});

Deno.test("Pinata answering 401 is not retried: upload_failed with a clear message, JWT nowhere", async () => {
  await using stack = await localStack();
  const { proxy, storage } = viaFaults(stack, ["401"]);
  await using _ = proxy;
  const out = await makeOutput(stack, "out");
  const error = await storage.uploadOutput(out, { jobId: "job-401", agentAddress: AGENT }).then(
    () => assert.fail("expected failure"),
    (e) => e,
  );
  assert.ok(error instanceof StorageError);
  assert.equal(error.reason, "upload_failed");
  assert.equal(error.detail, "unauthorized");
  assert.match(error.message, /rejected the JWT \(HTTP 401\)/);
  assert.equal(proxy.connections, 1);
  assertNoJwt(stack, error);
});

Deno.test("the real local service refuses a wrong JWT with 401 and the agent reports it without retrying", async () => {
  await using stack = await localStack();
  const storage = new Storage({ ...stack.config, pinataJwt: "wrong-jwt-value-123", uploadRetries: 3 }, stack.logger);
  await assert.rejects(storage.testAuthentication(), (e: StorageError) => e.detail === "unauthorized");
  await stack.storage.testAuthentication();
  const out = await makeOutput(stack, "out", 10);
  await assert.rejects(
    storage.uploadOutput(out, { jobId: "job-x", agentAddress: AGENT }),
    (e: StorageError) =>
      e.reason === "upload_failed" && e.detail === "unauthorized" && !e.message.includes("wrong-jwt"),
  );
});

Deno.test("an upload failing past its retries stays spooled, survives a restart, and is uploaded on resume", async () => {
  await using stack = await localStack();
  const { proxy, storage } = viaFaults(stack, ["503", "503", "503"], 2);
  await using _ = proxy;
  const out = await makeOutput(stack, "out");
  const error = await storage.uploadOutput(out, { jobId: "job-spool", agentAddress: AGENT }).then(
    () => assert.fail("expected failure"),
    (e) => e,
  );
  assert.equal(error.reason, "upload_failed");
  assert.match(error.message, /after 3 attempt/);
  // A new Storage over the same DATA_DIR is what the agent sees after a restart.
  const restarted = new Storage(stack.config, stack.logger);
  const spooled = await restarted.listSpooledOutputs();
  assert.equal(spooled.length, 1);
  assert.equal(spooled[0].jobId, "job-spool");
  assert.equal(spooled[0].agentAddress, AGENT);
  assert.equal(spooled[0].attempts, 1);
  const res = await restarted.resumeUpload("job-spool");
  assert.equal(res.files, 2);
  assert.deepEqual(await restarted.listSpooledOutputs(), []);
  assertNoJwt(stack, error);
});

Deno.test("spooled outputs older than OUTPUT_SPOOL_TTL are expired", async () => {
  await using stack = await localStack();
  const { proxy, storage } = viaFaults(stack, ["503"], 0);
  await using _ = proxy;
  await storage.uploadOutput(await makeOutput(stack, "out", 10), { jobId: "old", agentAddress: AGENT }).catch(() => {});
  assert.deepEqual(await storage.expireSpool(Date.now()), []);
  assert.deepEqual(await storage.expireSpool(Date.now() + stack.config.outputSpoolTtl + 1), ["old"]);
  assert.deepEqual(await storage.listSpooledOutputs(), []);
});

Deno.test("a CID returned by the service that differs from the local one is reported with both values", async () => {
  await using stack = await localStack();
  const { proxy, storage } = viaFaults(stack, ["bogus_cid"]);
  await using _ = proxy;
  const error = await storage.uploadOutput(await makeOutput(stack, "out", 10), { jobId: "mm", agentAddress: AGENT })
    .then(() => assert.fail("expected failure"), (e) => e);
  assert.equal(error.detail, "cid_mismatch");
  assert.ok(error.message.includes(EMPTY_DIRECTORY_CID));
  assert.match(error.message, /locally is bafy/);
});

Deno.test("an output over OUTPUT_MAX_BYTES fails with output_too_large before any upload", async () => {
  await using stack = await localStack();
  const { proxy } = viaFaults(stack, []);
  await using _ = proxy;
  const storage = new Storage({ ...stack.config, pinataApiUrl: proxy.url, outputMaxBytes: 1000 }, stack.logger);
  await assert.rejects(
    storage.uploadOutput(await makeOutput(stack, "out", 2000), { jobId: "big", agentAddress: AGENT }),
    (e: StorageError) => e.reason === "output_too_large",
  );
  assert.equal(proxy.connections, 0);
});

Deno.test("a symlink in the output is refused (never followed) before any upload", async () => {
  await using stack = await localStack();
  const { proxy } = viaFaults(stack, []);
  await using _ = proxy;
  const storage = new Storage({ ...stack.config, pinataApiUrl: proxy.url }, stack.logger);
  const out = await makeOutput(stack, "out", 10);
  await Deno.symlink("/etc/passwd", `${out}/sub/passwd`);
  await assert.rejects(
    storage.uploadOutput(out, { jobId: "link", agentAddress: AGENT }),
    (e: StorageError) => e.reason === "upload_failed" && e.detail === "symlink" && e.message.includes("sub/passwd"),
  );
  assert.equal(proxy.connections, 0);
});

Deno.test("an empty output yields the empty-directory CID without contacting Pinata", async () => {
  await using stack = await localStack();
  const { proxy, storage } = viaFaults(stack, []);
  await using _ = proxy;
  const out = `${stack.dir}/empty-out`;
  await Deno.mkdir(out);
  const res = await storage.uploadOutput(out, { jobId: "empty", agentAddress: AGENT });
  assert.equal(res.cid, EMPTY_DIRECTORY_CID);
  assert.equal(res.files, 0);
  assert.equal(proxy.connections, 0);
});
