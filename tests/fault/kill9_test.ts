/**
 * `kill -9` the agent at each pipeline stage, restart it on the same DATA_DIR: exactly one terminal status, no second
 * container, no orphan, the output not lost. Stages are made long enough to hit with a stalling gateway, a registry
 * whose blob download stalls mid-body, a long container, a Pinata proxy that holds an upload mid-body, and a stopped
 * nats-server (the status waits in the outbox).
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/docker/mod.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { LocalRegistry, pushFreshImage, registryMissing } from "../support/registry.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, StatusWatch } from "../agent/helpers.ts";
import {
  assertNoSecrets,
  containerCreates,
  type HeldUpload,
  sleep,
  stageReached,
  startControlledGateway,
  startHoldingPinata,
  terminals,
} from "./support.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());
/** Only the pull scenario needs a registry. */
const haveRegistry = ready && serviceAvailable("docker-registry", registryMissing());

/** The uppercase of the sample input, as the sample image writes it. */
const INPUT = "crash me gently\n";
/** The job command of images without the sample's CMD. */
const UPPERCASE = ["/bin/sh", "-c", "tr a-z A-Z < /input/input > /output/result.txt"];
/** The size of the padding the upload scenario writes: far beyond what socket buffers hold in flight. */
const PAD_BYTES = 32 << 20;

/** The test's NATS password (not a real credential): it must never appear in a log line or a status. */
const NATS_PASSWORD = "nats-pw-3b9f0c2e7a1d4e6f";

Deno.test({
  name: "kill -9 at every pipeline stage, then a restart: one terminal status, one container, output not lost",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // NATS with a password: the secret scan below covers the agent's NATS credentials too.
    await using net = await LocalNetwork.start({ natsPassword: NATS_PASSWORD });
    await using watch = await StatusWatch.open(net.natsUrl);
    await using gateway = startControlledGateway(net.ipfs.url);
    await using pinata = startHoldingPinata(net.ipfs.url);
    await using registry = haveRegistry ? await LocalRegistry.start() : undefined;
    // dockerd pulls through this proxy; in `stall` mode a blob download sends half its body, then waits.
    await using registryProxy = registry &&
      startControlledGateway(registry.url, "pass", { faultPaths: /^\/v2\/.+\/blobs\// });
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
        if (registryProxy) registryProxy.mode = "pass";
        pinata.hold = false;
        await between();
        const second = AgentProcess.start({ env: net.agentEnv(dataDir) });
        agents.push(second);
        await using _second = second;
        await second.ready();
        const done = await watch.terminal(jobId, 90_000);
        assert.deepEqual(await jobContainers(DOCKER_HOST, jobId), [], "no container left behind");
        assert.ok(await containerCreates(DOCKER_HOST, jobId, since) <= 1, "at most one container created");
        second.signal("SIGTERM");
        assert.equal((await second.exit()).code, 0, second.tail());
        // The agent flushes its statuses before it exits; a round trip to the server then delivers all of them here.
        await watch.nc.flush();
        assert.equal(terminals(watch.all, jobId).length, 1, JSON.stringify(watch.of(jobId)));
        return done;
      } finally {
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      }
    }

    await t.step("while fetching the input (gateway stalls mid-CAR) → completed after restart", async () => {
      gateway.mode = "stall";
      const done = await crashAndRecover("k9-fetch", { input_file_cid: input }, async (a) => {
        await stageReached(a, "k9-fetch", "fetching_input");
        await gateway.nextStall();
        assert.equal(terminals(watch.all, "k9-fetch").length, 0, "the job had not finished at the kill");
      });
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(await containerCreates(DOCKER_HOST, "k9-fetch", since), 1);
    });

    await t.step({
      name: "while pulling (a registry blob stalls mid-body) → the pull restarts after restart; completed",
      ignore: !registry || !registryProxy,
      fn: async () => {
        const image = `${registryProxy!.host}/${await pushFreshImage(registry!)}`;
        try {
          registryProxy!.mode = "stall";
          const done = await crashAndRecover(
            "k9-pull",
            { input_file_cid: input, image_name: image, command: UPPERCASE },
            async (a) => {
              await stageReached(a, "k9-pull", "pulling_image");
              await registryProxy!.nextStall();
              assert.equal(terminals(watch.all, "k9-pull").length, 0, "the job had not finished at the kill");
              assert.equal(await containerCreates(DOCKER_HOST, "k9-pull", since), 0, "no container before the pull");
            },
          );
          assert.equal(done.status, "completed", JSON.stringify(done));
          const pulledAgain = agents.at(-1)!.records().some((r) => r.msg === "pulling image" && r.job_id === "k9-pull");
          assert.ok(pulledAgain, "the restarted agent pulled the image itself");
          assert.equal(await containerCreates(DOCKER_HOST, "k9-pull", since), 1);
          assert.equal((await net.readOutput(done.output_cid as string))["result.txt"], INPUT.toUpperCase());
        } finally {
          using docker = new DockerClient(DOCKER_HOST);
          await docker.send("DELETE", `/images/${image}`, { query: { force: true }, okStatuses: [404] });
        }
      },
    });

    await t.step("an absent image → failed/image_pull_failed once, no container, also across a kill -9", async () => {
      const done = await crashAndRecover(
        "k9-absent",
        { input_file_cid: input, image_name: "lamda-absent/never:1" },
        (a) => a.waitFor((r) => r.msg === "Job finished" && r.job_id === "k9-absent", 60_000, "pull failure"),
      );
      assert.equal(done.status, "failed");
      assert.equal(done.reason, "image_pull_failed", JSON.stringify(done));
      assert.equal(await containerCreates(DOCKER_HOST, "k9-absent", since), 0);
    });

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
      "while uploading (Pinata stops reading mid-body) → the spooled output is uploaded after restart",
      async () => {
        pinata.hold = true;
        const holding = pinata.nextHold();
        const job = {
          input_file_cid: input,
          command: [
            "/bin/sh",
            "-c",
            `${UPPERCASE[2]} && dd if=/dev/zero of=/output/pad bs=1M count=${PAD_BYTES >> 20}`,
          ],
        };
        let held: HeldUpload | undefined;
        const done = await crashAndRecover("k9-upload", job, async (a) => {
          await stageReached(a, "k9-upload", "uploading");
          held = await holding;
          assert.equal(held.jobId, "k9-upload");
          assert.ok(held.midBody && held.bytesAtHold < PAD_BYTES, `held mid-body: ${JSON.stringify(held)}`);
          assert.equal(terminals(watch.all, "k9-upload").length, 0, "the job had not finished at the kill");
        });
        assert.equal(held?.end, "interrupted", "the kill broke the upload stream in flight");
        assert.equal(done.status, "completed", JSON.stringify(done));
        assert.equal(await containerCreates(DOCKER_HOST, "k9-upload", since), 1);
        const files = await net.readOutput(done.output_cid as string);
        assert.equal(files["result.txt"], INPUT.toUpperCase());
        assert.equal(files["pad"].length, PAD_BYTES);
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
      assertNoSecrets(agents, watch.all, [net.agentKey, DEV_PINATA_JWT, NATS_PASSWORD, `lamda:${NATS_PASSWORD}`]);
    });
  },
});
