/**
 * The services around the agent fail while it works: nats-server restarts mid-job, anvil stops for three heartbeat
 * intervals, mining stalls, the gateway breaks mid-download, Pinata answers 5xx. The agent keeps serving jobs.
 */
import assert from "node:assert/strict";
import { AgentProcess } from "../support/agent_process.ts";
import { dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { StatusWatch } from "../agent/helpers.ts";
import {
  assertNoSecrets,
  sleep,
  stageReached,
  startControlledGateway,
  startHoldingPinata,
  terminals,
} from "./support.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

Deno.test({
  name: "the agent keeps serving jobs through NATS, chain, gateway and Pinata faults",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using net = await LocalNetwork.start();
    await using gateway = startControlledGateway(net.ipfs.url);
    await using pinata = startHoldingPinata(net.ipfs.url);
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-fault-" });
    try {
      await using agent = AgentProcess.start({
        env: net.agentEnv(dataDir, {
          IPFS_GATEWAYS: `${gateway.url},${net.ipfs.url}`,
          PINATA_API_URL: pinata.url,
          UPLOAD_RETRY_BACKOFF: "300ms",
          HEARTBEAT_RECEIPT_TIMEOUT: "8s",
        }),
      });
      await agent.ready();
      let exited = false;
      agent.child.status.then(() => exited = true);
      await using watch = await StatusWatch.open(net.nats.url);
      const input = await net.addFile("input", "still here\n");
      let n = 0;
      const run = async (extra: Record<string, unknown> = {}) => {
        const jobId = `svc-${++n}`;
        await watch.dispatch(net.agentAddress, {
          job_id: jobId,
          image_name: net.image,
          input_file_cid: input,
          ...extra,
        });
        return { jobId, done: watch.terminal(jobId, 90_000) };
      };
      const heartbeatsMinedAfter = (i: number) => agent.records().slice(i).filter((r) => r.msg === "Heartbeat mined");

      const until = async (test: () => boolean, timeoutMs: number, what: string) => {
        const end = Date.now() + timeoutMs;
        while (!test()) {
          if (Date.now() > end) throw new Error(`Timed out waiting for ${what}; last lines:\n${agent.tail()}`);
          await sleep(250);
        }
      };

      await t.step("nats-server restarts mid-job → one completed status, and the next job completes", async () => {
        const { jobId, done } = await run({ command: ["/bin/sh", "-c", "sleep 3; cat /input/input > /output/o"] });
        await stageReached(agent, jobId, "running");
        await net.nats.restart(1000);
        const status = await done;
        assert.equal(status.status, "completed", JSON.stringify(status));
        await sleep(1000);
        assert.equal(terminals(watch.all, jobId).length, 1);
        const next = await run();
        assert.equal((await next.done).status, "completed");
      });

      await t.step(
        "anvil stopped for three heartbeat intervals → jobs complete meanwhile, heartbeats resume",
        async () => {
          const state = await net.anvil.rpc<string>("anvil_dumpState");
          await net.anvil.stop();
          const mark = agent.records().length;
          const { done } = await run();
          assert.equal((await done).status, "completed", "a job completes while the chain is down");
          await sleep(15_000);
          assert.equal(exited, false, "the agent is still running with the chain down");
          await net.anvil.start();
          await net.anvil.rpc("anvil_loadState", [state]);
          const resumed = agent.records().length;
          await until(
            () => heartbeatsMinedAfter(resumed).length > 0,
            90_000,
            "a heartbeat mined after anvil came back",
          );
          assert.ok(agent.records().slice(mark).some((r) => r.msg === "Heartbeat step failed; retrying"));
          assert.equal((await run().then((r) => r.done)).status, "completed");
        },
      );

      await t.step("mining stalls → heartbeats do not stack, jobs keep running", async () => {
        await net.anvil.rpc("evm_setAutomine", [false]);
        const mark = agent.records().length;
        const { done } = await run();
        assert.equal((await done).status, "completed");
        await sleep(16_000); // three intervals
        const nonces = new Set(
          agent.records().slice(mark).filter((r) => r.msg === "Heartbeat sent").map((r) => String(r.nonce)),
        );
        assert.ok(nonces.size <= 1, `one pending heartbeat nonce at a time, got ${[...nonces]}`);
        const pool = await net.anvil.rpc<{ pending: string }>("txpool_status");
        assert.ok(Number(pool.pending) <= 1, `at most one pending transaction, got ${pool.pending}`);
        await net.anvil.rpc("evm_setAutomine", [true]);
        await net.anvil.rpc("evm_mine");
        const after = agent.records().length;
        await until(() => heartbeatsMinedAfter(after).length > 0, 60_000, "a heartbeat mined once mining resumed");
      });

      await t.step("the gateway breaks mid-download → the next gateway serves it, the job completes", async () => {
        gateway.mode = "break";
        const hits = gateway.hits;
        const { done } = await run();
        const status = await done;
        gateway.mode = "pass";
        assert.ok(gateway.hits > hits, "the broken gateway was tried");
        assert.equal(status.status, "completed", JSON.stringify(status));
      });

      await t.step("the gateway breaks and there is no other → failed/input_fetch_failed", async () => {
        gateway.mode = "break";
        const jobId = `svc-${++n}`;
        await watch.dispatch(net.agentAddress, {
          job_id: jobId,
          image_name: net.image,
          // a CID only the broken gateway is asked for first; the direct one serves it, so use one nobody has
          input_file_cid: "bafkreih6ojfdzvqhzkd6ifh4a4ihslnf7ffkqlvchybnpjv5oxm3kcqrfa",
        });
        const status = await watch.terminal(jobId, 120_000);
        gateway.mode = "pass";
        assert.equal(status.status, "failed");
        assert.equal(status.reason, "input_fetch_failed", JSON.stringify(status));
      });

      await t.step("Pinata answers 503 twice, then recovers → completed after retries", async () => {
        const before = pinata.uploads;
        pinata.fail = 2;
        const { done } = await run();
        const status = await done;
        assert.equal(status.status, "completed", JSON.stringify(status));
        assert.ok(pinata.uploads - before >= 3, `retried: ${pinata.uploads - before} upload requests`);
      });

      await t.step("no secret in any log line or status", () => {
        assertNoSecrets([agent], watch.all, [net.agentKey, DEV_PINATA_JWT]);
      });
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
