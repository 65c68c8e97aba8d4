/**
 * The services around the agent fail while it works: nats-server restarts mid-job, anvil stops for three heartbeat
 * intervals, mining stalls, the gateway breaks mid-download, Pinata answers 5xx. The agent keeps serving jobs.
 */
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { AgentProcess } from "../support/agent_process.ts";
import { ANVIL_KEYS } from "../support/anvil.ts";
import { dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { StatusWatch, waitUntil } from "../agent/helpers.ts";
import { assertNoSecrets, stageReached, startControlledGateway, startHoldingPinata, terminals } from "./support.ts";

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
          // Every step fetches the same input through the gateways: no input cache, or the steps after the first
          // would never ask a gateway.
          INPUT_CACHE_MAX_BYTES: "0",
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
      /** The agent's log records with message `msg` written after record number `i`. */
      const logged = (msg: string, i: number) => agent.records().slice(i).filter((r) => r.msg === msg);
      const until = async (test: () => boolean, timeoutMs: number, what: string) => {
        await waitUntil(test, timeoutMs, what).catch((error) => {
          throw new Error(`${(error as Error).message}; last lines:\n${agent.tail()}`);
        });
      };

      await t.step("nats-server restarts mid-job → one completed status, and the next job completes", async () => {
        const { jobId, done } = await run({ command: ["/bin/sh", "-c", "sleep 3; cat /input/input > /output/o"] });
        await stageReached(agent, jobId, "running");
        await net.nats.restart(1000);
        const status = await done;
        assert.equal(status.status, "completed", JSON.stringify(status));
        const next = await run();
        assert.equal((await next.done).status, "completed");
        // Statuses leave the outbox in order: a second terminal status of the first job would have come before this.
        assert.equal(terminals(watch.all, jobId).length, 1, JSON.stringify(watch.of(jobId)));
      });

      await t.step(
        "anvil stopped until three heartbeat attempts failed → jobs complete meanwhile, heartbeats resume",
        async () => {
          const state = await net.anvil.rpc<string>("anvil_dumpState");
          await net.anvil.stop();
          const mark = agent.records().length;
          const { done } = await run();
          assert.equal((await done).status, "completed", "a job completes while the chain is down");
          await until(
            () => logged("Heartbeat step failed; retrying", mark).length >= 3,
            90_000,
            "three failed heartbeat attempts with the chain down",
          );
          assert.equal(exited, false, "the agent is still running with the chain down");
          await net.anvil.start();
          await net.anvil.rpc("anvil_loadState", [state]);
          const resumed = agent.records().length;
          await until(
            () => logged("Heartbeat mined", resumed).length > 0,
            90_000,
            "a heartbeat mined after anvil came back",
          );
          assert.equal((await run().then((r) => r.done)).status, "completed");
        },
      );

      await t.step("mining stalls → one heartbeat in flight, never stacked; jobs keep running", async () => {
        const sent = (i: number) => logged("Heartbeat sent", i);
        // What the loop decides when an interval comes due while its heartbeat is still pending: replace it at the
        // same nonce, or (fees at MAX_FEE_PER_GAS already) keep waiting. Never a new nonce.
        const dueWhilePending = (i: number) =>
          agent.records().slice(i).filter((r) =>
            r.msg === "Stuck heartbeat replaced with higher fees" ||
            r.msg === "Stuck heartbeat cannot be bumped: MAX_FEE_PER_GAS reached; waiting"
          );
        await net.anvil.rpc("evm_setAutomine", [false]);
        try {
          const mark = agent.records().length;
          const { done } = await run();
          assert.equal((await done).status, "completed");
          // HEARTBEAT_INTERVAL 5s, HEARTBEAT_RECEIPT_TIMEOUT 8s: a heartbeat goes out and is not mined; then two
          // more intervals come due while it is pending.
          await until(() => sent(mark).length > 0, 30_000, "a heartbeat sent with mining stalled");
          await until(() => dueWhilePending(mark).length >= 2, 60_000, "two intervals due while it is pending");
          assert.equal(sent(mark).length, 1, "no second heartbeat while the first is pending");
          const nonces = new Set([...sent(mark), ...dueWhilePending(mark)].map((r) => String(r.nonce)));
          assert.equal(nonces.size, 1, `one heartbeat nonce in flight, got ${[...nonces]}`);
          const pool = await net.anvil.rpc<{ pending: string }>("txpool_status");
          assert.equal(Number(pool.pending), 1, `exactly the one heartbeat is pending, got ${pool.pending}`);
        } finally {
          await net.anvil.rpc("evm_setAutomine", [true]);
          await net.anvil.rpc("evm_mine");
        }
        const after = agent.records().length;
        await until(() => logged("Heartbeat mined", after).length > 0, 60_000, "a heartbeat mined once mining resumed");
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

      await t.step("the only gateway breaks mid-body every time → failed/input_fetch_failed", async () => {
        // An agent of its own whose IPFS_GATEWAYS is the breaking gateway alone (another key, so the job goes to it).
        const key = ANVIL_KEYS[7];
        const soloDir = await Deno.makeTempDir({ prefix: "lamda-fault-" });
        try {
          await using solo = AgentProcess.start({
            env: net.agentEnv(soloDir, {
              AGENT_PRIVATE_KEY: key,
              IPFS_GATEWAYS: gateway.url,
              INPUT_FETCH_RETRIES: "1",
            }),
          });
          await solo.ready();
          gateway.mode = "break";
          const hits = gateway.hits;
          const jobId = `svc-${++n}`;
          // An input the upstream has: the failure can only come from the break.
          await watch.dispatch(new Wallet(key).address, {
            job_id: jobId,
            image_name: net.image,
            input_file_cid: input,
          });
          const status = await watch.terminal(jobId, 120_000);
          gateway.mode = "pass";
          assert.equal(status.status, "failed");
          assert.equal(status.reason, "input_fetch_failed", JSON.stringify(status));
          assert.ok(gateway.hits - hits >= 2, `both rounds asked the one gateway: ${gateway.hits - hits} requests`);
          solo.signal("SIGTERM");
          assert.equal((await solo.exit()).code, 0, solo.tail());
        } finally {
          gateway.mode = "pass";
          await Deno.remove(soloDir, { recursive: true }).catch(() => {});
        }
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
