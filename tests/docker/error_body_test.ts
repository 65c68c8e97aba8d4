/** Docker error answers are read to a few KiB: a daemon (or anything on the socket) answering megabytes costs nothing. */
import assert from "node:assert/strict";
import { DockerClient, DockerError } from "../../src/docker/mod.ts";
import { startHugeErrorServer } from "../support/huge_error_server.ts";

const MiB = 1024 * 1024;

Deno.test("a Docker 500 with a 50 MiB body gives a prompt DockerError with a bounded message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lamda-huge-docker-" });
  try {
    await using server = startHugeErrorServer({ json: true, socketPath: `${dir}/docker.sock` });
    using docker = new DockerClient(server.url);
    const heapBefore = Deno.memoryUsage().heapUsed;
    const began = performance.now();
    const error = await docker.send("POST", "/containers/abc/start").then(
      () => assert.fail("a 500 is an error"),
      (e) => e,
    );
    const elapsed = performance.now() - began;
    assert.ok(error instanceof DockerError && error.status === 500, String(error));
    assert.match(error.message, /^Docker POST \/containers\/abc\/start failed \(500\): \{"message":"x+$/);
    assert.ok(error.message.length < 4096 + 100, `message of ${error.message.length} chars`);
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    assert.ok(server.produced < 16 * MiB, `the daemon had to produce ${(server.produced / MiB).toFixed(1)} MiB`);
    assert.ok(Deno.memoryUsage().heapUsed - heapBefore < 16 * MiB, "the body was not held in memory");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
