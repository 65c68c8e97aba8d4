/**
 * The input cache through the job pipeline, with real containers on the test dockerd (a stand-in only where a
 * container must be re-attached) and real storage over the local IPFS service behind a gateway that counts requests.
 * A container copies `/input` to `/output`; since outputs and inputs go through the same importer, the job's output
 * CID equals the input CID exactly when the container saw byte-identical files under the same names.
 */
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { PipelineExecutor } from "../../src/agent/executor.ts";
import { AgentMetrics } from "../../src/agent/metrics.ts";
import { checkEntry, DATA_NAME, removeTree } from "../../src/storage/cache_entry.ts";
import { cacheKey, Storage } from "../../src/storage/mod.ts";
import { dockerReady, testEngine, testImageCache } from "../docker/support/harness.ts";
import { startFaultyGateway } from "../storage/faulty_gateway.ts";
import { localStack, uploadTree } from "../storage/support.ts";

const ready = await dockerReady();
const MiB = 1024 * 1024;

/** Copies the input tree to the output: the output CID is then the input CID. */
const COPY_INPUT = ["sh", "-c", "cp -r /input/. /output/"];

/**
 * Tries every way to change `/input` and exits with the number that worked: 0 means none did. The same script on a
 * writable directory exits 7.
 */
const TRY_WRITES = [
  "sh",
  "-c",
  [
    "n=0",
    "touch /input/new 2>/dev/null && n=$((n+1))",
    "echo x 2>/dev/null >> /input/weights.bin && n=$((n+1))",
    "chmod 666 /input/weights.bin 2>/dev/null && n=$((n+1))",
    "rm -f /input/cfg/a.json 2>/dev/null && n=$((n+1))",
    "mkdir /input/d 2>/dev/null && n=$((n+1))",
    "mv /input/cfg /input/cfg2 2>/dev/null && n=$((n+1))",
    "truncate -s 0 /input/weights.bin 2>/dev/null && n=$((n+1))",
    "exit $n",
  ].join("; "),
];

async function scene(inputCacheMaxBytes: number) {
  const stack = new AsyncDisposableStack();
  try {
    const local = stack.use(await localStack());
    const gateway = stack.use(startFaultyGateway(local.service.url, { kind: "pass" }));
    const docker = stack.use(await testEngine());
    const { cid } = await uploadTree(local, {
      "weights.bin": 3 * MiB + 17,
      "cfg/a.json": new TextEncoder().encode('{"lr":0.1}\n'),
    });
    const config = { ...local.config, ipfsGateways: [gateway.url], inputCacheMaxBytes };
    /** A fresh Storage and executor on the same DATA_DIR: what an agent restart builds. */
    const agent = () => {
      const storage = new Storage(config, local.logger, { fetchBackoffMs: 10 });
      const metrics = new AgentMetrics();
      const executor = new PipelineExecutor({
        docker: docker.engine,
        images: testImageCache(docker.engine),
        storage,
        signer: Wallet.createRandom(),
        agentAddress: docker.engine.agentAddress,
        jobsDir: `${local.dir}/jobs`,
        logger: local.logger,
        metrics,
      });
      let n = 0;
      const run = (command: string[], inputCid = cid) =>
        executor.execute(
          {
            jobId: `cache-${crypto.randomUUID().slice(0, 8)}-${n++}`,
            imageName: docker.image,
            inputFileCid: inputCid,
            outputPath: "/output",
            command,
          },
          { attempt: 1, gpuUuids: [], signal: new AbortController().signal, progress: () => Promise.resolve() },
        );
      return { storage, metrics, run };
    };
    // Sealed entries are read-only directories: removed with the helper that can.
    stack.defer(() => removeTree(`${local.dir}/data`));
    const entry = `${config.dataDir}/cache/${cacheKey(cid)}`;
    const owned = stack.move();
    return { local, gateway, docker, cid, agent, entry, [Symbol.asyncDispose]: () => owned.disposeAsync() };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

async function metric(metrics: AgentMetrics, name: string): Promise<number | undefined> {
  const line = (await metrics.render()).split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

Deno.test({
  name: "a second job with the same input CID makes no gateway request and sees a byte-identical /input",
  ignore: !ready,
  async fn() {
    await using s = await scene(64 * MiB);
    const agent = s.agent();
    const first = await agent.run(COPY_INPUT);
    assert.equal(first.status, "completed", JSON.stringify(first));
    assert.equal(first.status === "completed" && first.outputCid, s.cid, "the container saw the input's exact bytes");
    const requests = s.gateway.hits;
    assert.ok(requests >= 1);

    const second = await agent.run(COPY_INPUT);
    assert.equal(second.status, "completed", JSON.stringify(second));
    assert.equal(second.status === "completed" && second.outputCid, s.cid, "byte-identical /input from the cache");
    assert.equal(s.gateway.hits, requests, "no gateway request for the second job");
    assert.equal(await metric(agent.metrics, "lamda_input_cache_hits_total"), 1);
    assert.equal(await metric(agent.metrics, "lamda_input_cache_misses_total"), 1);
    assert.equal(await metric(agent.metrics, "lamda_input_cache_bytes"), 3 * MiB + 17 + 11);
  },
});

Deno.test({
  name: "a job cannot write into a cached input, and the entry stays sound for the next job",
  ignore: !ready,
  async fn() {
    await using s = await scene(64 * MiB);
    const agent = s.agent();
    assert.equal((await agent.run(COPY_INPUT)).status, "completed");
    const tried = await agent.run(TRY_WRITES);
    assert.equal(tried.status, "completed", `writes into /input succeeded: ${JSON.stringify(tried)}`);
    assert.equal(await checkEntry(s.entry, cacheKey(s.cid)), undefined, "the entry is unchanged");
    const requests = s.gateway.hits;
    const after = await agent.run(COPY_INPUT);
    assert.equal(after.status === "completed" && after.outputCid, s.cid);
    assert.equal(s.gateway.hits, requests, "still served from the cache");
  },
});

Deno.test({
  name: "a truncated file in a cache entry makes the next job fetch the input again, never mount the entry",
  ignore: !ready,
  async fn() {
    await using s = await scene(64 * MiB);
    const agent = s.agent();
    assert.equal((await agent.run(COPY_INPUT)).status, "completed");
    const requests = s.gateway.hits;
    await Deno.truncate(`${s.entry}/${DATA_NAME}/weights.bin`, MiB);
    const again = await agent.run(COPY_INPUT);
    assert.equal(again.status, "completed", JSON.stringify(again));
    assert.equal(again.status === "completed" && again.outputCid, s.cid, "the container saw the full, verified input");
    assert.ok(s.gateway.hits > requests, "fetched again");
    assert.equal(await checkEntry(s.entry, cacheKey(s.cid)), undefined, "the entry is whole again");
  },
});

Deno.test({
  name: "the input cache survives an agent restart: the first job after it makes no gateway request",
  ignore: !ready,
  async fn() {
    await using s = await scene(64 * MiB);
    assert.equal((await s.agent().run(COPY_INPUT)).status, "completed");
    const requests = s.gateway.hits;
    const restarted = s.agent();
    const after = await restarted.run(COPY_INPUT);
    assert.equal(after.status === "completed" && after.outputCid, s.cid);
    assert.equal(s.gateway.hits, requests, "served from the cache kept on disk");
    assert.equal(await metric(restarted.metrics, "lamda_input_cache_hits_total"), 1);
  },
});

Deno.test({
  name: "with INPUT_CACHE_MAX_BYTES=0 every job fetches its input and nothing is kept",
  ignore: !ready,
  async fn() {
    await using s = await scene(0);
    const agent = s.agent();
    for (let i = 0; i < 2; i++) {
      const out = await agent.run(COPY_INPUT);
      assert.equal(out.status === "completed" && out.outputCid, s.cid);
    }
    assert.equal(s.gateway.hits, 2, "one request per job");
    assert.equal(await Deno.lstat(s.entry).then(() => true, () => false), false);
    assert.equal(await metric(agent.metrics, "lamda_input_cache_hits_total"), 0);
    assert.equal(await metric(agent.metrics, "lamda_input_cache_misses_total"), 0);
  },
});

Deno.test({
  name: "under a small INPUT_CACHE_MAX_BYTES the least recently used input is evicted and fetched again later",
  ignore: !ready,
  async fn() {
    // Room for one 3 MiB input, not two.
    await using s = await scene(5 * MiB);
    const other = await uploadTree(s.local, { "weights.bin": 3 * MiB, "cfg/a.json": new Uint8Array(3) });
    const agent = s.agent();
    assert.equal((await agent.run(COPY_INPUT)).status, "completed");
    assert.equal((await agent.run(COPY_INPUT, other.cid)).status, "completed");
    assert.equal(await Deno.lstat(s.entry).then(() => true, () => false), false, "the first input was evicted");
    const requests = s.gateway.hits;
    const again = await agent.run(COPY_INPUT);
    assert.equal(again.status === "completed" && again.outputCid, s.cid);
    assert.equal(s.gateway.hits, requests + 1, "fetched again after its eviction");
    assert.ok((await metric(agent.metrics, "lamda_input_cache_bytes"))! <= 5 * MiB);
  },
});

Deno.test({
  name: "two jobs started together with the same input CID make one gateway request",
  ignore: !ready,
  async fn() {
    await using s = await scene(64 * MiB);
    const agent = s.agent();
    const both = await Promise.all([agent.run(COPY_INPUT), agent.run(COPY_INPUT)]);
    for (const out of both) assert.equal(out.status === "completed" && out.outputCid, s.cid, JSON.stringify(out));
    assert.equal(s.gateway.hits, 1);
    assert.equal(await metric(agent.metrics, "lamda_input_cache_hits_total"), 1, "the second shared the first's fetch");
  },
});

Deno.test("the cache entry of a container re-attached after a restart is not evicted while it runs", async () => {
  // Docker is a stand-in here: the container being re-attached runs until the test lets it end.
  await using local = await localStack({ inputCacheMaxBytes: 4 * MiB });
  await using _cleanup = { [Symbol.asyncDispose]: () => removeTree(`${local.dir}/data`) };
  const x = await uploadTree(local, { "weights.bin": 3 * MiB });
  const y = await uploadTree(local, { "weights.bin": 3 * MiB });
  const container = Promise.withResolvers<void>();
  const executor = new PipelineExecutor({
    images: {
      acquire: () =>
        Promise.resolve({
          info: { id: "sha256:" + "0".repeat(64), repoDigests: [], pulled: false, sizeBytes: 0, env: [], labels: {} },
          release: () => {},
        }),
      collect: () => Promise.resolve([]),
    },
    docker: {
      run: () => Promise.resolve({ ok: true, exitCode: 0 }),
      resume: async () => (await container.promise, { ok: true, exitCode: 0 }),
    },
    storage: local.storage,
    signer: Wallet.createRandom(),
    agentAddress: "0x" + "12".repeat(20),
    jobsDir: `${local.dir}/jobs`,
    logger: local.logger,
  });
  const job = (id: string, cid: string) => ({
    jobId: id,
    imageName: "busybox:latest",
    inputFileCid: cid,
    outputPath: "/output",
  });
  const ctx = (resume?: "reattach") => ({
    attempt: 1,
    gpuUuids: [],
    signal: new AbortController().signal,
    progress: () => Promise.resolve(),
    resume,
  });
  const entryOf = (cid: string) => `${local.config.dataDir}/cache/${cacheKey(cid)}`;
  const present = (cid: string) => Deno.lstat(entryOf(cid)).then(() => true, () => false);
  assert.equal((await executor.execute(job("warm", x.cid), ctx())).status, "completed");
  assert.equal(await present(x.cid), true);

  const reattached = executor.execute(job("running", x.cid), ctx("reattach"));
  const other = await executor.execute(job("other", y.cid), ctx());
  assert.equal(other.status, "completed", JSON.stringify(other));
  await local.storage.inputCache.settled();
  assert.equal(await present(x.cid), true, "still mounted by the re-attached container");
  assert.equal(await present(y.cid), false, "the new input did not fit without evicting it");

  container.resolve();
  assert.equal((await reattached).status, "completed");
  assert.equal((await executor.execute(job("later", y.cid), ctx())).status, "completed");
  await local.storage.inputCache.settled();
  assert.equal(await present(x.cid), false, "evicted once its container was gone");
  assert.equal(await present(y.cid), true);
});
