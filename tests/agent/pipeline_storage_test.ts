/**
 * The pipeline with real storage over the local IPFS service; Docker is a stand-in that writes the output a container
 * would. Transfers are visible while they run (progress lines, `lamda_transfer_bytes_total` rising before the end, the
 * link frozen mid-transfer by a holding proxy), and an output name that cannot travel fails as `upload_failed`.
 */
import assert from "node:assert/strict";
import { CarBlockIterator } from "@ipld/car";
import { Wallet } from "ethers";
import { PipelineExecutor } from "../../src/agent/executor.ts";
import { AgentMetrics } from "../../src/agent/metrics.ts";
import type { JobStage } from "../../src/job/mod.ts";
import type { PipelineDeps } from "../../src/agent/executor.ts";
import { Storage } from "../../src/storage/mod.ts";
import { startHoldingProxy } from "../storage/holding_proxy.ts";
import { localStack, uploadTree, writeRandomFile } from "../storage/support.ts";
import { sleep } from "../../src/timers.ts";

const MiB = 1024 * 1024;

async function counted(metrics: AgentMetrics, kind: string): Promise<number> {
  return (await metrics.transferBytes.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** An image already on the node: held and released, never pulled, nothing to collect. */
const presentImage: PipelineDeps["images"] = {
  acquire: () =>
    Promise.resolve({
      info: { id: "sha256:" + "0".repeat(64), repoDigests: [], pulled: false, sizeBytes: 0, env: [], labels: {} },
      release: () => {},
    }),
  collect: () => Promise.resolve([]),
};

Deno.test("bytes of a download and an upload are counted and logged while they move, and once", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "in.bin": 6 * MiB });
  let dagBytes = 0;
  const car = await fetch(`${stack.service.url}/ipfs/${cid}?format=car`);
  for await (const b of await CarBlockIterator.fromIterable(car.body!)) dagBytes += b.bytes.byteLength;

  await using gateway = startHoldingProxy(stack.service.port, "response", 2 * MiB);
  await using pinata = startHoldingProxy(stack.service.port, "request", 2 * MiB);
  const storage = new Storage(
    { ...stack.config, ipfsGateways: [gateway.url], pinataApiUrl: pinata.url },
    stack.logger,
  );
  const metrics = new AgentMetrics();
  const outputBytes = 12 * MiB;
  const executor = new PipelineExecutor({
    docker: {
      run: async (spec) => {
        await writeRandomFile(`${spec.outputDir}/result.bin`, outputBytes);
        return { ok: true, exitCode: 0 };
      },
      resume: () => Promise.resolve(undefined),
    },
    images: presentImage,
    storage,
    signer: Wallet.createRandom(),
    agentAddress: "0x" + "12".repeat(20),
    jobsDir: `${stack.dir}/jobs`,
    logger: stack.logger,
    metrics,
    progressIntervalMs: 0,
  });
  const stages: JobStage[] = [];
  let finished = false;
  const outcome = executor.execute(
    { jobId: "transfer-1", imageName: "busybox:latest", inputFileCid: cid, outputPath: "/output" },
    {
      attempt: 1,
      gpuUuids: [],
      signal: new AbortController().signal,
      progress: (stage, ...also) => Promise.resolve(void stages.push(stage, ...also)),
    },
  ).finally(() => finished = true);
  const progressLines = (label: string) =>
    stack.logs.records.filter((r) => r.msg.startsWith(`${label}: `) && r.fields.job_id === "transfer-1");

  await gateway.holding;
  await until("download bytes counted", async () => (await counted(metrics, "download")) > 0);
  const midDownload = await counted(metrics, "download");
  assert.ok(midDownload < dagBytes, `counted ${midDownload} of ${dagBytes} while the gateway holds the rest`);
  // The pull overlaps the download: both stages are journaled before either starts.
  assert.deepEqual(stages, ["fetching_input", "pulling_image"], "still downloading");
  assert.ok(progressLines("downloading input").length > 0, "progress lines logged during the download");
  gateway.release();

  await pinata.holding;
  await until("upload bytes counted", async () => (await counted(metrics, "upload")) > 0);
  assert.equal(finished, false, "the upload is still in progress");
  assert.equal(stages.at(-1), "uploading");
  assert.ok(progressLines("uploading output").length > 0, "progress lines logged during the upload");
  assert.ok((await counted(metrics, "upload")) <= outputBytes);
  pinata.release();

  const result = await outcome;
  assert.equal(result.status, "completed", JSON.stringify(result));
  assert.equal(await counted(metrics, "download"), dagBytes, "the download's bytes counted once");
  assert.equal(await counted(metrics, "upload"), outputBytes, "the upload's bytes counted once");
  const seconds = (await metrics.transferSeconds.get()).values.map((v) => v.labels.kind).sort();
  assert.deepEqual(seconds, ["download", "upload"], "the time of each transfer is recorded when it ends");
  const last = progressLines("uploading output").at(-1)!;
  assert.equal(last.fields.total_bytes, outputBytes);
  assert.match(last.msg, /of 12\.0 MiB/);
});

Deno.test("an output file whose name is not valid UTF-8 fails the job as upload_failed naming it, not internal_error", async () => {
  await using stack = await localStack();
  const docker: PipelineDeps["docker"] = {
    run: async (spec) => {
      await Deno.writeTextFile(`${spec.outputDir}/ok.txt`, "fine\n");
      const made = await new Deno.Command("sh", {
        args: ["-c", `touch "$(printf 'r\\351sum\\351.txt')"`],
        cwd: spec.outputDir,
      })
        .output();
      assert.ok(made.success, "a Latin-1 name, as a job might write it");
      return { ok: true, exitCode: 0 };
    },
    resume: () => Promise.resolve(undefined),
  };
  const executor = new PipelineExecutor({
    docker,
    images: presentImage,
    storage: stack.storage,
    signer: Wallet.createRandom(),
    agentAddress: "0x" + "12".repeat(20),
    jobsDir: `${stack.dir}/jobs`,
    logger: stack.logger,
  });
  const result = await executor.execute(
    { jobId: "latin1", imageName: "busybox:latest", outputPath: "/output" },
    { attempt: 1, gpuUuids: [], signal: new AbortController().signal, progress: () => Promise.resolve() },
  );
  assert.equal(result.status, "failed");
  if (result.status !== "failed") return;
  assert.equal(result.reason, "upload_failed");
  assert.match(result.message, /Output entry "r\\ufffdsum\\ufffd\.txt" is not valid UTF-8/);
});
