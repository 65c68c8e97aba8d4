/**
 * CUDA compatibility through the job pipeline: a GPU job whose image needs a newer CUDA than the node's driver fails
 * `cuda_unsupported` before any container exists. Real storage over the local IPFS service; Docker is a stand-in that
 * records every `run` (and writes the output a container would), except in the last test, where the image is built on
 * the real dockerd and read back through the real inspect.
 */
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { type PipelineDeps, PipelineExecutor } from "../../src/agent/executor.ts";
import { type DriverFacts, importBusyboxImage } from "../../src/docker/mod.ts";
import type { GpuInventory } from "../../src/gpu/mod.ts";
import type { ExecutionContext, Job, JobStage } from "../../src/job/mod.ts";
import { removeTree } from "../../src/storage/cache_entry.ts";
import { Storage } from "../../src/storage/mod.ts";
import { dockerReady, testEngine, testImageCache } from "../docker/support/harness.ts";
import { removeImage } from "../support/docker.ts";
import { startHoldingProxy } from "../storage/holding_proxy.ts";
import { localStack, uploadTree } from "../storage/support.ts";
import { CUDA_12_4_1 } from "../../src/docker/testdata/nvidia_require_cuda.ts";

const ready = await dockerReady();
const MiB = 1024 * 1024;
/** A GPU UUID as nvidia-smi reports it (testdata/nvidia-smi/h100x8). */
const GPU = "GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1";
/** The driver CUDA 12.2 ships with: what nvidia-smi reports on such a node. */
const R535: DriverFacts = { driverVersion: "535.54.03", cudaVersion: "12.2" };
const NEEDS_99 = "NVIDIA_REQUIRE_CUDA=cuda>=99.0";

type Stack = Awaited<ReturnType<typeof localStack>>;

/** The composition root passes the GPU inventory itself (`driver: inventory`): it has both fields (type-checked here). */
const _inventoryIsDriverFacts = (inventory: GpuInventory): PipelineDeps["driver"] => inventory;

/** An image already on the node with this config; counts leases taken and given back. */
function presentImage(env: string[], labels: Record<string, string> = {}) {
  const leases = { taken: 0, released: 0 };
  const images: PipelineDeps["images"] = {
    acquire: () => {
      leases.taken++;
      return Promise.resolve({
        info: { id: "sha256:" + "0".repeat(64), repoDigests: [], pulled: false, sizeBytes: 0, env, labels },
        release: () => void leases.released++,
      });
    },
    collect: () => Promise.resolve([]),
  };
  return { images, leases };
}

/** A pipeline over `stack` whose Docker records each run and writes one output file. */
function pipeline(stack: Stack, images: PipelineDeps["images"], driver?: DriverFacts, storage?: Storage) {
  const runs: { gpuIds?: string[] }[] = [];
  const executor = new PipelineExecutor({
    docker: {
      run: async (spec) => {
        runs.push({ gpuIds: spec.gpuIds });
        await Deno.writeTextFile(`${spec.outputDir}/result.txt`, "ran\n");
        return { ok: true, exitCode: 0 };
      },
      resume: () => Promise.resolve(undefined),
    },
    images,
    storage: storage ?? stack.storage,
    signer: Wallet.createRandom(),
    agentAddress: "0x" + "12".repeat(20),
    jobsDir: `${stack.dir}/jobs`,
    logger: stack.logger,
    driver,
  });
  return { executor, runs };
}

let n = 0;
function job(overrides: Partial<Job> = {}): Job {
  return { jobId: `cuda-${n++}`, imageName: "lamda/cuda-job:1", outputPath: "/output", ...overrides };
}

function ctx(gpuUuids: string[], stages: JobStage[] = []): ExecutionContext {
  return {
    attempt: 1,
    gpuUuids,
    signal: new AbortController().signal,
    progress: (stage) => Promise.resolve(void stages.push(stage)),
  };
}

Deno.test("a GPU job whose image requires cuda>=99.0 fails cuda_unsupported naming both versions, with no docker.run", async () => {
  await using stack = await localStack();
  const { images, leases } = presentImage([NEEDS_99, "PATH=/bin"]);
  const { executor, runs } = pipeline(stack, images, R535);
  const stages: JobStage[] = [];
  const out = await executor.execute(job(), ctx([GPU], stages));
  assert.ok(out.status === "failed", JSON.stringify(out));
  assert.equal(out.reason, "cuda_unsupported");
  assert.equal(
    out.message,
    "image lamda/cuda-job:1 requires CUDA >= 99.0 (NVIDIA_REQUIRE_CUDA); this node's driver supports CUDA 12.2 " +
      "(driver 535.54.03): use an image built for CUDA <= 12.2 or update the NVIDIA driver",
  );
  assert.equal(runs.length, 0, "docker.run was never called");
  assert.ok(!stages.includes("running"), `stages: ${stages}`);
  assert.deepEqual(leases, { taken: 1, released: 1 }, "the image lease is given back");
});

Deno.test("the same image with NVIDIA_DISABLE_REQUIRE=true runs on the GPU", async () => {
  await using stack = await localStack();
  const { images } = presentImage([NEEDS_99, "NVIDIA_DISABLE_REQUIRE=true"]);
  const { executor, runs } = pipeline(stack, images, R535);
  const out = await executor.execute(job(), ctx([GPU]));
  assert.equal(out.status, "completed", JSON.stringify(out));
  assert.deepEqual(runs, [{ gpuIds: [GPU] }]);
});

Deno.test("a job without real GPUs is never refused: no GPU, no NVIDIA hook, no requirement", async () => {
  await using stack = await localStack();
  const { images } = presentImage([NEEDS_99]);
  const { executor, runs } = pipeline(stack, images, R535);
  for (const gpus of [[], ["cpu-0"]]) {
    const out = await executor.execute(job(), ctx(gpus));
    assert.equal(out.status, "completed", `${gpus}: ${JSON.stringify(out)}`);
  }
  assert.deepEqual(runs, [{ gpuIds: [] }, { gpuIds: [] }]);
});

Deno.test("the real 12.4.1 requirement: a 535 driver runs it (its forward-compatibility branch), a 545 driver does not", async () => {
  await using stack = await localStack();
  const { images } = presentImage([`NVIDIA_REQUIRE_CUDA=${CUDA_12_4_1}`, "CUDA_VERSION=12.4.1"]);
  const ok = pipeline(stack, images, R535);
  assert.equal((await ok.executor.execute(job(), ctx([GPU]))).status, "completed");
  assert.equal(ok.runs.length, 1);
  const old = pipeline(stack, images, { driverVersion: "545.23.08", cudaVersion: "12.3" });
  const out = await old.executor.execute(job({ imageName: "nvidia/cuda:12.4.1-base-ubuntu22.04" }), ctx([GPU]));
  assert.ok(out.status === "failed" && out.reason === "cuda_unsupported", JSON.stringify(out));
  assert.match(out.message, /requires CUDA >= 12\.4 \(NVIDIA_REQUIRE_CUDA\) or a driver of branch 470, 525 or 535;/);
  assert.match(out.message, /supports CUDA 12\.3 \(driver 545\.23\.08\)/);
  assert.equal(old.runs.length, 0);
});

Deno.test("an unknown driver CUDA version refuses nothing and says so in the log", async () => {
  await using stack = await localStack();
  const { images } = presentImage([NEEDS_99]);
  for (const driver of [undefined, { driverVersion: "535.54.03", cudaVersion: null }]) {
    const { executor, runs } = pipeline(stack, images, driver);
    const j = job();
    assert.equal((await executor.execute(j, ctx([GPU]))).status, "completed");
    assert.equal(runs.length, 1);
    const warned = stack.logs.records.find((r) =>
      r.level === "warn" && r.fields.job_id === j.jobId &&
      r.msg.startsWith("The image's CUDA requirement is not checked")
    );
    assert.ok(warned, "a warning names the unchecked requirement");
    assert.match(String(warned.fields.reason), /CUDA version is unknown/);
    assert.deepEqual(warned.fields.requirements, ["NVIDIA_REQUIRE_CUDA=cuda>=99.0"]);
  }
});

Deno.test("the com.nvidia.cuda.version label alone refuses nothing (the toolkit does not read it)", async () => {
  await using stack = await localStack();
  const { images } = presentImage(["PATH=/bin"], { "com.nvidia.cuda.version": "99.0" });
  const { executor, runs } = pipeline(stack, images, R535);
  assert.equal((await executor.execute(job(), ctx([GPU]))).status, "completed");
  assert.equal(runs.length, 1);
});

Deno.test("a refused image stops the job's input download: the job fails at once, not after the transfer", async () => {
  await using stack = await localStack();
  await using _data = { [Symbol.asyncDispose]: () => removeTree(stack.config.dataDir) };
  const { cid } = await uploadTree(stack, { "weights.bin": 8 * MiB });
  // The link freezes after 1 MiB and is never released: only a cancelled download lets the job end.
  await using gateway = startHoldingProxy(stack.service.port, "response", MiB);
  const storage = new Storage({ ...stack.config, ipfsGateways: [gateway.url] }, stack.logger, { fetchBackoffMs: 10 });
  let acquired = false;
  const { images } = presentImage([NEEDS_99]);
  const late: PipelineDeps["images"] = {
    ...images,
    acquire: async (image, o) => {
      await gateway.holding; // the download is under way when the image turns out to be refused
      acquired = true;
      return await images.acquire(image, o);
    },
  };
  const { executor, runs } = pipeline(stack, late, R535, storage);
  const out = await executor.execute(job({ inputFileCid: cid }), ctx([GPU]));
  assert.ok(acquired);
  assert.ok(out.status === "failed" && out.reason === "cuda_unsupported", JSON.stringify(out));
  assert.equal(runs.length, 0);
});

Deno.test({
  name:
    "an image built on the real dockerd with NVIDIA_REQUIRE_CUDA has its env read by inspect and is refused before create",
  ignore: !ready,
  async fn() {
    await using stack = await localStack();
    await using docker = await testEngine();
    const refused = "lamda-test/cuda-require:99";
    const allowed = "lamda-test/cuda-require:99-disabled";
    const requirement = "cuda>=99.0 brand=tesla,driver>=470,driver<471";
    const changes = [
      'CMD ["/bin/sh"]',
      "ENV PATH=/bin",
      `ENV NVIDIA_REQUIRE_CUDA="${requirement}"`,
      "LABEL com.nvidia.cuda.version=99.0",
    ];
    await importBusyboxImage(docker.engine.client, refused, { changes });
    await importBusyboxImage(docker.engine.client, allowed, {
      changes: [...changes, "ENV NVIDIA_DISABLE_REQUIRE=true"],
    });
    await using _images = {
      [Symbol.asyncDispose]: async () => {
        await removeImage(docker.engine.client, refused);
        await removeImage(docker.engine.client, allowed);
      },
    };

    const info = await docker.engine.ensureImage(refused);
    assert.ok(info.env.includes(`NVIDIA_REQUIRE_CUDA=${requirement}`), JSON.stringify(info.env));
    assert.equal(info.labels["com.nvidia.cuda.version"], "99.0");

    const runs: string[] = [];
    const imageCache = testImageCache(docker.engine);
    using _store = { [Symbol.dispose]: () => imageCache.store.close() };
    const executor = new PipelineExecutor({
      docker: {
        run: (spec, o) => (runs.push(spec.image), docker.engine.run(spec, o)),
        resume: (id, o) => docker.engine.resume(id, o),
      },
      images: imageCache,
      storage: stack.storage,
      signer: Wallet.createRandom(),
      agentAddress: docker.engine.agentAddress,
      jobsDir: `${stack.dir}/jobs`,
      logger: stack.logger,
      driver: R535,
    });
    const command = ["sh", "-c", "echo ok > /output/r.txt"];

    const gpuJob = await executor.execute(job({ imageName: refused, command }), ctx([GPU]));
    assert.ok(gpuJob.status === "failed" && gpuJob.reason === "cuda_unsupported", JSON.stringify(gpuJob));
    assert.match(gpuJob.message, /requires CUDA >= 99\.0 \(NVIDIA_REQUIRE_CUDA\) or a driver of branch 470;/);
    assert.deepEqual(runs, [], "no container was created");
    assert.deepEqual(await docker.engine.listJobContainers(), []);

    const cpuJob = await executor.execute(job({ imageName: refused, command }), ctx([]));
    assert.equal(cpuJob.status, "completed", JSON.stringify(cpuJob));
    assert.deepEqual(runs, [refused], "a job without GPUs runs the same image in a real container");

    // The requirement is off: the job goes on to Docker, which hands out GPUs only with NVIDIA's runtime.
    const disabled = await executor.execute(job({ imageName: allowed, command }), ctx([GPU]));
    assert.deepEqual(runs, [refused, allowed]);
    assert.ok(
      disabled.status === "completed" || disabled.reason === "gpu_unavailable",
      `not refused for CUDA: ${JSON.stringify(disabled)}`,
    );
  },
});
