/**
 * GPUs through Docker, on a machine without one. On the shared dockerd (no GPU driver) the engine's probe reports GPUs
 * unavailable and GPU jobs fail `gpu_unavailable` with dockerd's own words. On a second dockerd whose PATH holds a
 * stand-in `nvidia-container-runtime-hook` (tests/support/gpu_dockerd.ts) Docker's built-in NVIDIA driver is real:
 * the probe proves it, and each GPU job's container sees exactly its assigned UUIDs in `NVIDIA_VISIBLE_DEVICES`.
 */
import assert from "node:assert/strict";
import {
  buildContainer,
  containerName,
  DockerClient,
  DockerEngine,
  GPU_PROBE_IMAGE,
  NVIDIA_FIX,
  probeGpuSupport,
} from "../../src/docker/mod.ts";
import { sleep } from "../../src/timers.ts";
import { Logger } from "../../src/log/mod.ts";
import { GpuDockerd, gpuDockerdReady } from "../support/gpu_dockerd.ts";
import { isGpuProbe, RecordingProxy } from "./support/recording_proxy.ts";
import {
  CaptureWriter,
  containerExists,
  DOCKER_HOST,
  dockerReady,
  randomAddress,
  TEST_LIMITS,
  testEngine,
} from "./support/harness.ts";

const ready = await dockerReady();
const hookReady = ready && await gpuDockerdReady();
const GPUS = ["GPU-0f3c8a2e-5b7d-4c1e-9a6f-2d8b7e1c4a90", "GPU-7a1e4b2c-9d3f-4e8a-b6c5-1f2e3d4c5b6a"];
const GPU_A = "GPU-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const GPU_B = "GPU-bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

/** The environment a job's container wrote to its output dir (`env > /output/env`). */
async function containerEnv(outputDir: string): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(`${outputDir}/env`);
  return new Map(
    text.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

/** An output directory a container's root user may write (it has no CAP_DAC_OVERRIDE). */
async function outputDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "lamda-gpu-out-" });
  await Deno.chmod(dir, 0o777);
  return dir;
}

/** The names of every container, stopped ones included, on the daemon at `host`. */
async function allContainers(host: string): Promise<string[]> {
  using docker = new DockerClient(host);
  const list = await docker.json<{ Names: string[] }[]>("GET", "/containers/json", { query: { all: true } });
  return list.map((c) => c.Names[0]);
}

const DUMP_ENV = ["sh", "-c", "env > /output/env"];

Deno.test({
  name: "on a dockerd without a GPU driver the probe reports GPUs unavailable with dockerd's refusal and the fix, " +
    "and removes its container",
  ignore: !ready,
  async fn() {
    await using proxy = RecordingProxy.start(DOCKER_HOST);
    await using t = await testEngine({ host: proxy.host });
    const gpu = t.engine.capabilities.gpu;
    assert.equal(gpu.available, false);
    assert.equal(gpu.mechanism, "none");
    assert.match(gpu.found, /^dockerd does not accept GPU device requests: could not select device driver "nvidia"/);
    assert.equal(gpu.fix, NVIDIA_FIX);
    assert.match(gpu.message, /nvidia-container-toolkit.*restart dockerd/);
    const create = proxy.requests.find((r) => isGpuProbe(r) && r.path.startsWith("/containers/create"));
    assert.ok(create, "the probe created a container");
    const body = create.body as { Image: string; HostConfig: { DeviceRequests: unknown[] } };
    assert.equal(body.Image, GPU_PROBE_IMAGE);
    assert.deepEqual(body.HostConfig.DeviceRequests, [{ Driver: "nvidia", Count: 0, Capabilities: [["gpu"]] }]);
    const name = new URLSearchParams(create.path.slice(create.path.indexOf("?"))).get("name")!;
    assert.ok(proxy.requests.some((r) => r.method === "DELETE" && r.path.startsWith(`/containers/${name}?`)));
    assert.equal(await containerExists(t.engine, name), false, "the probe container is gone");
  },
});

Deno.test({
  name: "a connect aborted while the GPU probe starts its container rejects and still removes the container",
  ignore: !ready,
  async fn() {
    const ctl = new AbortController();
    let probe: string | undefined;
    await using proxy = RecordingProxy.start(DOCKER_HOST, {
      before(request) {
        const m = /^\/containers\/(lamda-gpu-probe-[^/]+)\/start/.exec(request.path);
        if (!m) return;
        probe = m[1];
        ctl.abort(new Error("stopped during the GPU probe"));
      },
    });
    await assert.rejects(
      DockerEngine.connect({
        host: proxy.host,
        agentAddress: randomAddress(),
        logger: new Logger({ writer: new CaptureWriter() }),
        signal: ctl.signal,
      }),
      /stopped during the GPU probe/,
    );
    assert.ok(probe, "the probe's start was reached");
    assert.ok(proxy.requests.some((r) => r.method === "DELETE" && r.path.startsWith(`/containers/${probe}?`)));
    assert.ok(!(await allContainers(DOCKER_HOST)).includes(`/${probe}`), "the probe container is gone");
  },
});

Deno.test({
  name:
    "a daemon that hangs on the probe's start gets a failed verdict after the probe's deadline, not a failed connect",
  ignore: !ready,
  async fn() {
    let probe: string | undefined;
    await using proxy = RecordingProxy.start(DOCKER_HOST, {
      async before(request) {
        const m = /^\/containers\/(lamda-gpu-probe-[^/]+)\/start/.exec(request.path);
        if (!m) return;
        probe = m[1];
        await sleep(1000);
      },
    });
    using docker = new DockerClient(proxy.host);
    const evidence = { runtimes: ["runc"], jobRuntime: "runc", cdiSpecDirs: [], serverVersion: "20.10.24" };
    const gpu = await probeGpuSupport(docker, { evidence, timeoutMs: 300 });
    assert.equal(gpu.available, false);
    assert.equal(gpu.mechanism, "none");
    assert.equal(
      gpu.found,
      "cannot prove that dockerd accepts GPU device requests: the probe failed: it did not finish within 300 ms",
    );
    assert.ok(gpu.probeMs < 1000, `${gpu.probeMs} ms`);
    assert.ok(probe, "the probe's start was reached");
    // The held start reaches dockerd after the delete: whichever wins, no container is left.
    await sleep(1500);
    assert.ok(!(await allContainers(DOCKER_HOST)).includes(`/${probe}`), "the probe container is gone");
  },
});

Deno.test({
  name:
    "GPU job on a GPU-less daemon fails as gpu_unavailable with the daemon's message; the request carries DeviceIDs exactly",
  ignore: !ready,
  async fn() {
    await using proxy = RecordingProxy.start(DOCKER_HOST);
    await using t = await testEngine({ host: proxy.host });
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
    const create = proxy.createOf(containerName("gpu-job", 1));
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
    const create = proxy.createOf(containerName("cpu-job", 1));
    assert.equal((create!.body as { HostConfig: Record<string, unknown> }).HostConfig.DeviceRequests, undefined);
  },
});

Deno.test({
  name: "on a dockerd with Docker's NVIDIA driver (nvidia-container-runtime-hook on its PATH)",
  ignore: !hookReady,
  async fn(t) {
    await using dockerd = await GpuDockerd.start();
    await using e = await testEngine({ host: dockerd.host });
    const engine = e.engine;

    await t.step(
      "the probe proves GPUs available, mechanism hook, hands the hook no GPU and leaves nothing",
      async () => {
        const gpu = engine.capabilities.gpu;
        assert.equal(gpu.available, true, gpu.message);
        assert.equal(gpu.mechanism, "hook");
        assert.equal(
          gpu.found,
          "dockerd accepts GPU device requests (built-in NVIDIA driver: nvidia-container-runtime-hook on dockerd's PATH)",
        );
        assert.equal(gpu.fix, undefined);
        // Docker ran the hook as a prestart hook of the probe container, with no NVIDIA_VISIBLE_DEVICES (Count 0).
        assert.deepEqual((await dockerd.hookCalls()).map((c) => [c.args, c.visibleDevices]), [["prestart", undefined]]);
        assert.deepEqual(await allContainers(dockerd.host), [], "the probe container is removed");
      },
    );

    await t.step("a GPU job's container sees exactly its assigned UUIDs in NVIDIA_VISIBLE_DEVICES", async () => {
      const before = (await dockerd.hookCalls()).length;
      const outcome = await engine.run({
        jobId: "gpu-two",
        attempt: 1,
        image: e.image,
        outputDir: e.outputDir,
        command: DUMP_ENV,
        gpuIds: GPUS,
      });
      assert.ok(outcome.ok, JSON.stringify(outcome));
      const env = await containerEnv(e.outputDir);
      assert.equal(env.get("NVIDIA_VISIBLE_DEVICES"), GPUS.join(","));
      // The request's only capability is `gpu`, none of NVIDIA's: Docker sets no NVIDIA_DRIVER_CAPABILITIES.
      assert.equal(env.get("NVIDIA_DRIVER_CAPABILITIES"), undefined);
      const calls = (await dockerd.hookCalls()).slice(before);
      assert.deepEqual(calls.map((c) => [c.args, c.visibleDevices]), [["prestart", GPUS.join(",")]]);
      assert.deepEqual(await allContainers(dockerd.host), [], "the job's container is removed");
    });

    await t.step("two jobs running at once with different GPUs each see only their own", async () => {
      const before = (await dockerd.hookCalls()).length;
      const dirs = [await outputDir(), await outputDir()];
      try {
        const sleepThenDump = ["sh", "-c", "sleep 1; env > /output/env"];
        const outcomes = await Promise.all([
          engine.run({
            jobId: "gpu-a",
            attempt: 1,
            image: e.image,
            outputDir: dirs[0],
            command: sleepThenDump,
            gpuIds: [GPU_A],
          }),
          engine.run({
            jobId: "gpu-b",
            attempt: 1,
            image: e.image,
            outputDir: dirs[1],
            command: sleepThenDump,
            gpuIds: [GPU_B],
          }),
        ]);
        for (const o of outcomes) assert.ok(o.ok, JSON.stringify(o));
        const seen = (await dockerd.hookCalls()).slice(before).map((c) => c.visibleDevices).sort();
        assert.deepEqual(seen, [GPU_A, GPU_B], "one hook call per job, each with its own GPU");
        assert.equal((await containerEnv(dirs[0])).get("NVIDIA_VISIBLE_DEVICES"), GPU_A);
        assert.equal((await containerEnv(dirs[1])).get("NVIDIA_VISIBLE_DEVICES"), GPU_B);
      } finally {
        for (const d of dirs) await Deno.remove(d, { recursive: true });
      }
    });

    await t.step("a job with no GPUs gets no NVIDIA_VISIBLE_DEVICES and no hook call", async () => {
      const before = (await dockerd.hookCalls()).length;
      const outcome = await engine.run({
        jobId: "cpu-on-gpu-daemon",
        attempt: 1,
        image: e.image,
        outputDir: e.outputDir,
        command: DUMP_ENV,
      });
      assert.ok(outcome.ok, JSON.stringify(outcome));
      const env = await containerEnv(e.outputDir);
      assert.ok(env.has("PATH"), "the env was written");
      assert.equal(env.has("NVIDIA_VISIBLE_DEVICES"), false);
      assert.equal((await dockerd.hookCalls()).length, before, "Docker added no hook");
    });
  },
});
