/**
 * `kill -9` the agent at each pipeline stage, restart it on the same DATA_DIR: exactly one terminal status, no second
 * container, no orphan, the output not lost. Stages are made long enough to hit with a stalling gateway, a long
 * container, a Pinata proxy that holds uploads, and a stopped nats-server (the status waits in the outbox).
 */
import assert from "node:assert/strict";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, StatusWatch } from "../agent/helpers.ts";
import {
  assertNoSecrets,
  containerCreates,
  sleep,
  stageReached,
  startControlledGateway,
  startHoldingPinata,
  terminals,
} from "./support.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

/** The uppercase of the sample input, as the sample image writes it. */
const INPUT = "crash me gently\n";

Deno.test({
  name: "kill -9 at every pipeline stage, then a restart: one terminal status, one container, output not lost",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using net = await LocalNetwork.start();
    await using watch = await StatusWatch.open(net.nats.url);
    await using gateway = startControlledGateway(net.ipfs.url);
    await using pinata = startHoldingPinata(net.ipfs.url);
    const input = await net.addFile("input", INPUT);
    const agents: AgentProcess[] = [];
    const since = Math.floor(Date.now() / 1000) - 1;

    /** Runs one scenario: first agent (faulty paths) until `hit`, kill -9, second agent (direct paths). */
    async function crashAndRecover(
      jobId: string,
      job: Record<string, unknown>,
      hit: (agent: AgentProcess) => Promise<unknown>,
      between: () => Promise<void> = () => Promise.resolve(),
    ) {
      const dataDir = await Deno.makeTempDir({ prefix: "lamda-fault-" });
      try {
        const first = AgentProcess.start({
          env: net.agentEnv(dataDir, { IPFS_GATEWAYS: gateway.url, PINATA_API_URL: pinata.url }),
        });
        agents.push(first);
        await using _first = first;
        await first.ready();
        await watch.dispatch(net.agentAddress, { job_id: jobId, image_name: net.image, ...job });
        await hit(first);
        first.signal("SIGKILL");
        await first.exit();
        gateway.mode = "pass";
        pinata.hold = false;
        await between();
        const second = AgentProcess.start({ env: net.agentEnv(dataDir) });
        agents.push(second);
        await using _second = second;
        await second.ready();
        const done = await watch.terminal(jobId, 90_000);
        await sleep(1500); // a second terminal status, if any, would arrive now
        assert.equal(terminals(watch.all, jobId).length, 1, JSON.stringify(watch.of(jobId)));
        assert.deepEqual(await jobContainers(DOCKER_HOST, jobId), [], "no container left behind");
        assert.ok(await containerCreates(DOCKER_HOST, jobId, since) <= 1, "at most one container created");
        second.signal("SIGTERM");
        assert.equal((await second.exit()).code, 0, second.tail());
        return done;
      } finally {
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      }
    }

    await t.step("while fetching the input (gateway stalls mid-CAR) → completed after restart", async () => {
      gateway.mode = "stall";
      const done = await crashAndRecover("k9-fetch", { input_file_cid: input }, async (a) => {
        await stageReached(a, "k9-fetch", "fetching_input");
        await gateway.nextHit();
        await sleep(300);
      });
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(await containerCreates(DOCKER_HOST, "k9-fetch", since), 1);
    });

    await t.step(
      "while pulling: an absent image fails fast (no registry here), once, with image_pull_failed",
      async () => {
        const done = await crashAndRecover(
          "k9-pull",
          { input_file_cid: input, image_name: "lamda-absent/never:1" },
          (a) => a.waitFor((r) => r.msg === "Job finished" && r.job_id === "k9-pull", 60_000, "pull failure"),
        );
        assert.equal(done.status, "failed");
        assert.equal(done.reason, "image_pull_failed", JSON.stringify(done));
        assert.equal(await containerCreates(DOCKER_HOST, "k9-pull", since), 0);
      },
    );

    await t.step("while running → the container is re-attached and its output uploaded", async () => {
      const done = await crashAndRecover("k9-run", {
        input_file_cid: input,
        command: ["/bin/sh", "-c", "sleep 4; tr a-z A-Z < /input/input > /output/result.txt"],
      }, async (a) => {
        await stageReached(a, "k9-run", "running");
        await sleep(1500);
      });
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(await containerCreates(DOCKER_HOST, "k9-run", since), 1, "the container was not started twice");
      assert.equal((await net.readOutput(done.output_cid as string))["result.txt"], INPUT.toUpperCase());
    });

    await t.step(
      "while uploading (Pinata holds the request) → the spooled output is uploaded after restart",
      async () => {
        pinata.hold = true;
        const before = pinata.uploads;
        const done = await crashAndRecover("k9-upload", { input_file_cid: input }, async (a) => {
          await stageReached(a, "k9-upload", "uploading");
          while (pinata.uploads === before) await sleep(100);
        });
        assert.equal(done.status, "completed", JSON.stringify(done));
        assert.equal(await containerCreates(DOCKER_HOST, "k9-upload", since), 1);
        assert.equal((await net.readOutput(done.output_cid as string))["result.txt"], INPUT.toUpperCase());
      },
    );

    await t.step("after the upload, before the status (NATS down) → the journalled status goes out once", async () => {
      const done = await crashAndRecover("k9-status", { input_file_cid: input }, async (a) => {
        await stageReached(a, "k9-status", "uploading");
        await net.nats.stop();
        await a.waitFor((r) => r.msg === "Job finished" && r.job_id === "k9-status", 60_000, "job finished");
        await sleep(300);
      }, () => net.nats.start());
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(await containerCreates(DOCKER_HOST, "k9-status", since), 1);
      assert.equal((await net.readOutput(done.output_cid as string))["result.txt"], INPUT.toUpperCase());
    });

    await t.step("no secret in any log line or status of the crashed and restarted agents", () => {
      assertNoSecrets(agents, watch.all, [net.agentKey, DEV_PINATA_JWT]);
    });
  },
});
