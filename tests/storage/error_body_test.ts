/** Pinata error answers are read to a few KiB: a gateway page of megabytes is neither waited for nor held. */
import assert from "node:assert/strict";
import { PinataClient, Storage, StorageError } from "../../src/storage/mod.ts";
import { startHugeErrorServer } from "../support/huge_error_server.ts";
import { capturedLogger, tempDir, TEST_JWT, testConfig } from "./support.ts";

const MiB = 1024 * 1024;

Deno.test("Pinata answering 500 with a 50 MiB body fails promptly with a bounded message", async () => {
  await using server = startHugeErrorServer({ json: true });
  const client = new PinataClient({
    apiUrl: server.url,
    jwt: TEST_JWT,
    retries: 0,
    backoffBaseMs: 10,
    attemptTimeoutMs: 30_000,
  });
  const began = performance.now();
  const error = await client.testAuthentication().then(() => assert.fail("a 500 is an error"), (e) => e);
  assert.ok(error instanceof StorageError, String(error));
  assert.match(error.message, /^Pinata answered HTTP 500: \{"message":"x+$/);
  assert.ok(error.message.length < 400, `message of ${error.message.length} chars`);
  assert.ok(performance.now() - began < 2000);
  assert.ok(server.produced < 16 * MiB, `the service had to produce ${(server.produced / MiB).toFixed(1)} MiB`);
});

Deno.test("an upload answered 500 with a 50 MiB body is retried without reading any answer whole", async () => {
  await using server = startHugeErrorServer({ json: true });
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.path}/out`);
  await Deno.writeTextFile(`${dir.path}/out/result.txt`, "done\n");
  const { logger } = capturedLogger();
  const storage = new Storage(
    testConfig(`${dir.path}/data`, { pinataApiUrl: server.url, uploadRetries: 2, uploadRetryBackoff: 10 }),
    logger,
  );
  const began = performance.now();
  const error = await storage.uploadOutput(`${dir.path}/out`, {
    jobId: "huge-500",
    agentAddress: "0x" + "ab".repeat(20),
  })
    .then(() => assert.fail("every attempt gets a 500"), (e) => e);
  assert.ok(error instanceof StorageError && error.reason === "upload_failed", String(error));
  assert.equal(server.requests, 3);
  assert.ok(error.message.length < 500, `message of ${error.message.length} chars`);
  assert.ok(performance.now() - began < 5000);
  assert.ok(server.produced < 3 * 16 * MiB, `the service had to produce ${(server.produced / MiB).toFixed(1)} MiB`);
});
