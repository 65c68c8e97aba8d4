import assert from "node:assert/strict";
import { BusConnection } from "../../src/bus/mod.ts";
import { NatsServer, natsServerMissing } from "../support/nats_server.ts";
import { freePort } from "../support/ports.ts";
import { serviceAvailable } from "../support/service.ts";
import { body, DISPATCH, FakeExecutor, quietLogger, sleep, StatusWatcher, TEST_JS, TestAgent } from "./helpers.ts";

const HAVE_NATS = serviceAvailable("nats-server", natsServerMissing());

/** Three JetStream nodes routed to each other on loopback. */
async function startCluster(): Promise<NatsServer[]> {
  const routes = [freePort(), freePort(), freePort()];
  const urls = routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
  const nodes: NatsServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await NatsServer.start({
          config: `server_name: n${i}\ncluster { name: lamda, listen: "127.0.0.1:${routes[i]}", routes: [${urls}] }\n`,
        }),
      );
    }
    return nodes;
  } catch (error) {
    for (const n of nodes) await n[Symbol.asyncDispose]();
    throw error;
  }
}

/** Publishes a job with JetStream, retrying while the cluster elects leaders. */
async function publishJob(conn: BusConnection, job: unknown): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      await conn.jetstream().publish(DISPATCH, body(job), { timeout: 2000 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

Deno.test({
  name: "3-node NATS cluster: killing the node the agent uses → it fails over and keeps consuming",
  ignore: !HAVE_NATS,
  async fn() {
    const nodes = await startCluster();
    try {
      const urls = nodes.map((n) => n.url);
      // Stream creation needs a JetStream meta leader: wait for the cluster to form.
      await using admin = await BusConnection.connect({ servers: urls }, quietLogger());
      const deadline = Date.now() + 30_000;
      while (true) {
        try {
          await (await admin.jetstreamManager()).getAccountInfo();
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await sleep(250);
        }
      }
      await using watch = await StatusWatcher.start(urls);
      const executor = new FakeExecutor(100);
      await using agent = await TestAgent.start({
        servers: urls,
        executor,
        intake: "jetstream",
        jetstream: { ...TEST_JS, replicas: 3 },
      });
      await publishJob(admin, { job_id: "c-1", image_name: "busybox" });
      await watch.waitFor((s) => s.job_id === "c-1" && s.status === "completed", 30_000);

      const used = agent.conn.server;
      const victim = nodes.find((n) => used.endsWith(`:${n.port}`));
      assert.ok(victim, `agent server ${used} is one of the nodes`);
      await victim.kill();
      await publishJob(admin, { job_id: "c-2", image_name: "busybox" });
      await watch.waitFor((s) => s.job_id === "c-2" && s.status === "completed", 45_000);
      assert.notEqual(agent.conn.server, used, "the agent moved to another node");
      assert.deepEqual(executor.calls.map((j) => j.jobId), ["c-1", "c-2"]);
    } finally {
      for (const n of nodes) await n[Symbol.asyncDispose]();
    }
  },
});
