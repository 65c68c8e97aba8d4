/**
 * A job's run timeout (`timeout_seconds`, JOB_TIMEOUT) counts container run time only: a pull and an input fetch that
 * take longer than it do not fail the job; the container that outlives it does. Real dockerd, a real registry behind
 * a proxy that holds its blobs, real storage behind a gateway that holds its answers.
 */
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { PipelineExecutor } from "../../src/agent/executor.ts";
import { startControlledGateway } from "../fault/support.ts";
import { LocalRegistry, pushFreshImage, registryMissing } from "../support/registry.ts";
import { serviceAvailable } from "../support/service.ts";
import { dockerReady, testEngine, testImageCache } from "../docker/support/harness.ts";
import { localStack, uploadTree } from "../storage/support.ts";
import { Storage } from "../../src/storage/mod.ts";

const ready = await dockerReady() && serviceAvailable("docker-registry", registryMissing());

Deno.test({
  name: "a 2 s pull and a 2 s input fetch do not count against a 1 s run timeout; a 3 s container does",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    await using proxy = startControlledGateway(registry.url, "stall", {
      faultPaths: /^\/v2\/.+\/blobs\//,
      keepContentLength: true,
    });
    await using docker = await testEngine();
    await using local = await localStack();
    await using gateway = startControlledGateway(local.service.url, "stall");
    const image = `${proxy.host}/${await pushFreshImage(registry, "lamda-timeout/slow")}`;
    const { cid } = await uploadTree(local, { "data.bin": 3 * 1024 * 1024 });
    const images = testImageCache(docker.engine);
    const executor = new PipelineExecutor({
      docker: docker.engine,
      images,
      storage: new Storage({ ...local.config, ipfsGateways: [gateway.url] }, local.logger, { fetchBackoffMs: 10 }),
      signer: Wallet.createRandom(),
      agentAddress: docker.engine.agentAddress,
      jobsDir: `${local.dir}/jobs`,
      logger: local.logger,
    });
    const job = (command: string[]) => ({
      jobId: `timeout-${crypto.randomUUID().slice(0, 8)}`,
      imageName: image,
      inputFileCid: cid,
      outputPath: "/output",
      command,
      timeoutSeconds: 1,
    });
    const ctx = { attempt: 1, gpuUuids: [], signal: new AbortController().signal, progress: () => Promise.resolve() };
    try {
      // Both held for 2 s, then let through.
      setTimeout(() => {
        proxy.mode = "pass";
        gateway.mode = "pass";
      }, 2000);
      const t0 = performance.now();
      const quick = await executor.execute(job(["sh", "-c", "wc -c /input/data.bin > /output/n"]), ctx);
      const took = performance.now() - t0;
      assert.equal(quick.status, "completed", JSON.stringify(quick));
      assert.ok(took >= 2000, `the pull and the fetch were held (${took.toFixed(0)} ms)`);
      assert.ok(proxy.stalls >= 1 && gateway.stalls >= 1, "both were really held");

      // The image is there now: the container alone runs past the 1 s limit.
      const slow = await executor.execute(job(["sh", "-c", "sleep 3"]), ctx);
      assert.equal(slow.status, "failed");
      assert.equal(slow.status === "failed" && slow.reason, "timeout", JSON.stringify(slow));
    } finally {
      await docker.engine.client.send("DELETE", `/images/${image}`, { query: { force: true }, okStatuses: [404] });
      images.store.close();
    }
  },
});
