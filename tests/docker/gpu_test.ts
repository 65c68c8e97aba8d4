/** GPU requests on a daemon without the NVIDIA runtime: the real error, and the exact request the agent sends. */
import assert from "node:assert/strict";
import { buildContainer, containerName } from "../../src/docker/mod.ts";
import { RecordingProxy } from "./support/recording_proxy.ts";
import { containerExists, DOCKER_HOST, dockerReady, TEST_LIMITS, testEngine } from "./support/harness.ts";

const ready = await dockerReady();
const GPUS = ["GPU-0f3c8a2e-5b7d-4c1e-9a6f-2d8b7e1c4a90", "GPU-7a1e4b2c-9d3f-4e8a-b6c5-1f2e3d4c5b6a"];

Deno.test({
  name:
    "GPU job on a GPU-less daemon fails as gpu_unavailable with the daemon's message; the request carries DeviceIDs exactly",
  ignore: !ready,
  async fn() {
    await using proxy = RecordingProxy.start(DOCKER_HOST);
    await using t = await testEngine({ host: proxy.host });
    assert.equal(t.engine.capabilities.gpu.available, false);
    assert.match(t.engine.capabilities.gpu.message!, /nvidia-container-toolkit.*restart dockerd/);
    const outcome = await t.engine.run({
      jobId: "gpu-job",
      attempt: 1,
      image: t.image,
      outputDir: t.outputDir,
      command: ["sh", "-c", "exit 0"],
      gpuIds: GPUS,
    });
    assert.ok(!outcome.ok && outcome.reason === "gpu_unavailable", JSON.stringify(outcome));
    assert.match(outcome.message, /could not select device driver "nvidia"/); // dockerd's own words
    assert.match(outcome.message, /install nvidia-container-toolkit/);
    const create = proxy.requests.find((r) => r.method === "POST" && r.path.startsWith("/containers/create"));
    const hostConfig = (create!.body as { HostConfig: Record<string, unknown> }).HostConfig;
    assert.deepEqual(hostConfig.DeviceRequests, [{ Driver: "nvidia", DeviceIDs: GPUS, Capabilities: [["gpu"]] }]);
    assert.equal(await containerExists(t.engine, containerName("gpu-job", 1)), false, "failed GPU container removed");
  },
});

Deno.test({
  name: "created (not started) GPU container shows HostConfig.DeviceRequests with DeviceIDs and no Count",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    const built = buildContainer({
      jobId: "gpu-inspect",
      attempt: 1,
      agentAddress: t.engine.agentAddress,
      image: t.image,
      outputDir: t.outputDir,
      gpuIds: GPUS,
    }, TEST_LIMITS);
    const { Id } = await t.engine.client.json<{ Id: string }>("POST", "/containers/create", {
      query: { name: built.name },
      body: built.body,
    });
    try {
      const info = await t.engine.client.json<{ HostConfig: { DeviceRequests: Record<string, unknown>[] } }>(
        "GET",
        `/containers/${Id}/json`,
      );
      const [req, ...more] = info.HostConfig.DeviceRequests;
      assert.equal(more.length, 0);
      assert.equal(req.Driver, "nvidia");
      assert.deepEqual(req.DeviceIDs, GPUS);
      assert.deepEqual(req.Capabilities, [["gpu"]]);
      assert.ok(!req.Count, "Count is never set together with DeviceIDs");
    } finally {
      await t.engine.client.send("DELETE", `/containers/${Id}`, { query: { force: true } });
    }
  },
});

Deno.test({
  name: "CPU-only job sends no DeviceRequests",
  ignore: !ready,
  async fn() {
    await using proxy = RecordingProxy.start(DOCKER_HOST);
    await using t = await testEngine({ host: proxy.host });
    const outcome = await t.engine.run({ jobId: "cpu-job", attempt: 1, image: t.image, outputDir: t.outputDir });
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const create = proxy.requests.find((r) => r.path.startsWith("/containers/create"));
    assert.equal((create!.body as { HostConfig: Record<string, unknown> }).HostConfig.DeviceRequests, undefined);
  },
});
