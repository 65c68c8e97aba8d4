/**
 * The input fetch and the image pull run at the same time. Real storage over the local IPFS service behind a gateway
 * that answers late (or fails, or never answers); the pull is a stand-in that takes a set time, honours its signal and
 * records when it was cancelled. Timings are asserted with wide margins: a slow machine makes both paths slower, but
 * only a sequential pipeline takes the sum.
 */
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { PipelineExecutor } from "../../src/agent/executor.ts";
import { type ImageInfo, ImagePullError } from "../../src/docker/mod.ts";
import type { JobStage } from "../../src/job/mod.ts";
import { removeTree } from "../../src/storage/cache_entry.ts";
import { Storage } from "../../src/storage/mod.ts";
import { sleep } from "../../src/timers.ts";
import { localStack, uploadTree } from "../storage/support.ts";

const MiB = 1024 * 1024;
const DELAY_MS = 1500;

/** A gateway in front of `upstream` that waits `delayMs`, then answers (with `status` instead, when given). */
function lateGateway(upstream: string, options: { delayMs?: number; status?: number }) {
  const state = { requests: 0, clientGone: 0 };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    state.requests++;
    try {
      await sleep(options.delayMs ?? 0, req.signal);
    } catch {
      state.clientGone++; // the agent closed the connection before the answer
      return new Response(null, { status: 499 });
    }
    if (options.status) return new Response("injected\n", { status: options.status });
    const url = new URL(req.url);
    return await fetch(`${upstream}${url.pathname}${url.search}`, { headers: req.headers });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    state,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** An image "pull" that takes `ms`, or fails after `failAfterMs`; it records starting, and being cancelled. */
function standInPull(options: { ms?: number; failAfterMs?: number }) {
  const state = { startedAt: 0, cancelled: false, ranMs: 0, stagesAtStart: [] as JobStage[] };
  const ensureImage = async (image: string, o: { signal?: AbortSignal } = {}): Promise<ImageInfo> => {
    state.startedAt = performance.now();
    try {
      if (options.failAfterMs !== undefined) {
        await sleep(options.failAfterMs, o.signal);
        throw new ImagePullError(image, `Image ${image} not found in the registry`);
      }
      await sleep(options.ms ?? 0, o.signal);
    } catch (error) {
      if (o.signal?.aborted) state.cancelled = true;
      state.ranMs = performance.now() - state.startedAt;
      throw error;
    }
    return { id: "sha256:" + "0".repeat(64), repoDigests: [], pulled: true, sizeBytes: 0, env: [], labels: {} };
  };
  return { ensureImage, state };
}

async function scene(gateway: { delayMs?: number; status?: number }, pull: { ms?: number; failAfterMs?: number }) {
  const stack = new AsyncDisposableStack();
  const local = stack.use(await localStack());
  const { cid } = await uploadTree(local, { "data.bin": 2 * MiB });
  const gw = stack.use(lateGateway(local.service.url, gateway));
  const puller = standInPull(pull);
  const storage = new Storage(
    { ...local.config, ipfsGateways: [gw.url], inputCacheMaxBytes: 64 * MiB },
    local.logger,
    { fetchBackoffMs: 10 },
  );
  stack.defer(() => removeTree(local.config.dataDir));
  const stages: JobStage[] = [];
  let ran = false;
  const executor = new PipelineExecutor({
    images: {
      acquire: async (image, o) => {
        puller.state.stagesAtStart = [...stages];
        return { info: await puller.ensureImage(image, o), release: () => {} };
      },
      collect: () => Promise.resolve([]),
    },
    docker: {
      run: () => (ran = true, Promise.resolve({ ok: true, exitCode: 0 })),
      resume: () => Promise.resolve(undefined),
    },
    storage,
    signer: Wallet.createRandom(),
    agentAddress: "0x" + "12".repeat(20),
    jobsDir: `${local.dir}/jobs`,
    logger: local.logger,
  });
  const run = async () => {
    const t0 = performance.now();
    const outcome = await executor.execute(
      { jobId: "overlap-1", imageName: "busybox:latest", inputFileCid: cid, outputPath: "/output" },
      {
        attempt: 1,
        gpuUuids: [],
        signal: new AbortController().signal,
        progress: (stage, ...also) => Promise.resolve(void stages.push(stage, ...also)),
      },
    );
    return { outcome, ms: performance.now() - t0, ran: () => ran };
  };
  const owned = stack.move();
  return { gw, puller, stages, storage, run, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

Deno.test("a slow image pull and a slow input fetch take about the longer of the two, not their sum", async () => {
  await using s = await scene({ delayMs: DELAY_MS }, { ms: DELAY_MS });
  const { outcome, ms } = await s.run();
  assert.equal(outcome.status, "completed", JSON.stringify(outcome));
  assert.ok(ms >= DELAY_MS, `took ${ms.toFixed(0)} ms`);
  // Sequential would be at least 2 × 1500 ms; allow 700 ms of overhead over the longer one.
  assert.ok(ms < 2 * DELAY_MS - 800, `took ${ms.toFixed(0)} ms: the fetch and the pull did not overlap`);
  assert.deepEqual(s.puller.state.stagesAtStart, ["fetching_input", "pulling_image"], "both journaled first");
  assert.deepEqual(s.stages, ["fetching_input", "pulling_image", "running", "uploading"]);
  console.log(`overlapped fetch ${DELAY_MS} ms + pull ${DELAY_MS} ms: ${ms.toFixed(0)} ms`);
});

Deno.test("a failing input fetch cancels the image pull and the job fails with the fetch's reason", async () => {
  await using s = await scene({ delayMs: 800, status: 404 }, { ms: 10_000 });
  const { outcome, ms, ran } = await s.run();
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.status === "failed" && outcome.reason, "input_fetch_failed", JSON.stringify(outcome));
  assert.equal(s.puller.state.cancelled, true, "the pull was cancelled");
  assert.ok(s.puller.state.ranMs >= 600, `the pull ran alongside the fetch (${s.puller.state.ranMs.toFixed(0)} ms)`);
  assert.ok(ms < 5_000, `took ${ms.toFixed(0)} ms: the job waited for the pull`);
  assert.equal(ran(), false, "no container");
});

Deno.test("a failing image pull cancels the input fetch and the job fails with the pull's reason", async () => {
  await using s = await scene({ delayMs: 30_000 }, { failAfterMs: 300 });
  const { outcome, ms, ran } = await s.run();
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.status === "failed" && outcome.reason, "image_pull_failed", JSON.stringify(outcome));
  assert.ok(ms < 1_500, `took ${ms.toFixed(0)} ms: the job waited for the fetch`);
  assert.equal(ran(), false, "no container");
  await sleep(100);
  assert.equal(s.gw.state.clientGone, s.gw.state.requests, "the gateway request was dropped by the agent");
  assert.equal(s.storage.inputCache.bytes(), 0, "nothing entered the cache");
});
