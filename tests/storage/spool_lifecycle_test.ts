/** The spool's life beyond one upload: outputs of jobs that ended go, expiry runs while uploads are in flight. */
import assert from "node:assert/strict";
import { Storage, StorageError } from "../../src/storage/mod.ts";
import { startHoldingProxy } from "./holding_proxy.ts";
import { localStack, writeRandomFile } from "./support.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

const AGENT = "0x" + "ef".repeat(20);
const MiB = 1024 * 1024;

async function makeOutput(stack: Stack, name: string, size: number): Promise<string> {
  const dir = `${stack.dir}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  await writeRandomFile(`${dir}/result.bin`, size);
  return dir;
}

/** A storage whose uploads pass through a proxy that freezes each one after 1 MiB, until released. */
function heldUploads(stack: Stack) {
  const proxy = startHoldingProxy(stack.service.port, "request", MiB);
  const storage = new Storage({ ...stack.config, pinataApiUrl: proxy.url, uploadRetries: 0 }, stack.logger);
  return { proxy, storage };
}

Deno.test("a shutdown during an upload leaves the output spooled; removeSpooled drops it once the job has ended", async () => {
  await using stack = await localStack();
  const { proxy, storage } = heldUploads(stack);
  await using _ = proxy;
  const shutdown = new AbortController();
  const upload = storage.uploadOutput(await makeOutput(stack, "out", 4 * MiB), {
    jobId: "job:ended",
    agentAddress: AGENT,
    signal: shutdown.signal,
  }).then(() => assert.fail("the upload must not finish"), (e) => e);
  await proxy.holding;
  shutdown.abort(new Error("agent_shutdown"));
  const error = await upload;
  assert.ok(error instanceof StorageError && error.detail === "aborted", String(error));
  assert.deepEqual((await storage.listSpooledOutputs()).map((s) => s.jobId), ["job:ended"]);
  // Another job's output waits in the spool too and must stay.
  await storage.spool.add(await makeOutput(stack, "other", 10), "job:waiting", AGENT);

  assert.equal(await storage.removeSpooled("job:ended"), true);
  assert.deepEqual((await storage.listSpooledOutputs()).map((s) => s.jobId), ["job:waiting"]);
  assert.equal(await storage.removeSpooled("job:ended"), false, "already gone is fine");
  assert.equal(await storage.removeSpooled("../escape"), false, "an id that cannot be an entry is no entry");
});

Deno.test("expiry that runs while an expired output is being uploaded leaves that output alone", async () => {
  await using stack = await localStack();
  const { proxy, storage } = heldUploads(stack);
  await using _ = proxy;
  const out = await makeOutput(stack, "out", 4 * MiB);
  // An output spooled long ago (before a long outage), whose upload runs now.
  await storage.spool.add(out, "job:late", AGENT, Date.now() - stack.config.outputSpoolTtl - 60_000);
  await storage.spool.add(await makeOutput(stack, "stale", 10), "job:stale", AGENT, 0);
  const upload = storage.resumeUpload("job:late").catch((e: Error) => e);
  await proxy.holding;
  assert.deepEqual(await storage.expireSpool(), ["job:stale"], "the hourly run expires only what nobody uploads");
  proxy.release();
  const result = await upload;
  assert.ok(!(result instanceof Error), `the upload failed: ${result}`);
  assert.equal(result.files, 1);
  assert.equal(result.bytes, 4 * MiB);
  assert.deepEqual(await storage.listSpooledOutputs(), []);
});
