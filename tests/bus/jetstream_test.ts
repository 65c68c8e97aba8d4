import assert from "node:assert/strict";
import { BusConnection, durableConsumers, ensureConsumers, ensureJobStream } from "../../src/bus/mod.ts";
import type { StatusMessage } from "../../src/job/mod.ts";
import { NatsServer, natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { waitUntil } from "../agent/helpers.ts";
import {
  AGENT,
  body,
  DISPATCH,
  FakeExecutor,
  quietLogger,
  STAGED_COMPLETION,
  stageKeys,
  StatusWatcher,
  TEST_JS,
  TestAgent,
} from "./helpers.ts";

const HAVE_NATS = serviceAvailable("nats-server", natsServerMissing());
const JS = { intake: "jetstream" as const, jetstream: TEST_JS };
const DURABLE = durableConsumers(AGENT.address)[0].durable;

/** Every status stored in the status stream. */
async function storedStatuses(conn: BusConnection): Promise<StatusMessage[]> {
  const jsm = await conn.jetstreamManager();
  const info = await jsm.streams.info(TEST_JS.statusStream);
  const out: StatusMessage[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(TEST_JS.statusStream, { seq });
    if (m) out.push(m.json<StatusMessage>());
  }
  return out;
}

async function publishJob(conn: BusConnection, job: unknown): Promise<void> {
  await conn.jetstream().publish(DISPATCH, body(job), { timeout: 5000 });
}

async function consumerState(conn: BusConnection) {
  const jsm = await conn.jetstreamManager();
  const c = await jsm.consumers.info(TEST_JS.jobStream, DURABLE);
  return { pending: c.num_pending, ackPending: c.num_ack_pending };
}

Deno.test({
  name: "JetStream: a job published while the agent is offline runs after it starts",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start();
    await using admin = await BusConnection.connect({ servers: [nats.url] }, quietLogger());
    // A first run creates the streams and the durable consumer, then the agent goes away.
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-bus-" });
    try {
      await (await TestAgent.start({ servers: [nats.url], executor: new FakeExecutor(), ...JS, dataDir }))
        [Symbol.asyncDispose]();
      await publishJob(admin, { job_id: "offline-1", image_name: "busybox" });
      assert.equal((await consumerState(admin)).pending, 1, "the job waits in the stream");
      await using watch = await StatusWatcher.start([nats.url]);
      const executor = new FakeExecutor();
      await using _agent = await TestAgent.start({ servers: [nats.url], executor, ...JS, dataDir });
      const done = await watch.waitFor((s) => s.job_id === "offline-1" && s.status === "completed");
      assert.equal(done.agent_address, AGENT.address);
      assert.deepEqual(executor.calls.map((j) => j.jobId), ["offline-1"]);
      await waitUntil(async () => (await consumerState(admin)).ackPending === 0, 5000, "the ack");
      assert.deepEqual(await consumerState(admin), { pending: 0, ackPending: 0 });
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "JetStream: nats-server down mid-job → no agent restart, the status from the outage arrives once",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start();
    const executor = new FakeExecutor(2000);
    await using agent = await TestAgent.start({ servers: [nats.url], executor, ...JS });
    {
      await using admin = await BusConnection.connect({ servers: [nats.url] }, quietLogger());
      await publishJob(admin, { job_id: "outage-1", image_name: "busybox" });
      await waitUntil(() => agent.runner.running === 1, 10_000, "the job to start");
    }
    // The job finishes while the server is down (the outage lasts until its status is journaled; the mechanism is the
    // same for 30 s).
    await nats.stop();
    await waitUntil(() => agent.journal.get("outage-1")?.state === "completed", 10_000, "the job to end offline");
    assert.ok(!agent.conn.connected, "it finished during the outage");
    assert.ok(agent.runner.unsentStatuses >= 1, "its status waits in the outbox");
    await nats.start();
    await using admin = await BusConnection.connect({ servers: [nats.url] }, quietLogger());
    await waitUntil(() => agent.runner.unsentStatuses === 0, 15_000, "the outbox to drain");
    const stored = (await storedStatuses(admin)).filter((s) => s.job_id === "outage-1");
    assert.deepEqual(stageKeys(stored), STAGED_COMPLETION, "each status exactly once, stages in order");
    assert.equal(stored.at(-1)!.output_cid.length > 0, true);
    await waitUntil(async () => (await consumerState(admin)).ackPending === 0, 10_000, "the job message ack");
    assert.deepEqual(await consumerState(admin), { pending: 0, ackPending: 0 });
    assert.equal(executor.calls.length, 1);
    assert.ok(agent.conn.connected, "the same agent connection recovered");
  },
});

Deno.test({
  name:
    "JetStream: the same job three times plus a forced redelivery runs once; a late duplicate gets the final status",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start();
    await using admin = await BusConnection.connect({ servers: [nats.url] }, quietLogger());
    const jsm = await admin.jetstreamManager();
    const settings = { ...TEST_JS, consumers: durableConsumers(AGENT.address), maxAckPending: 64 };
    await ensureJobStream(jsm, settings);
    await ensureConsumers(jsm, settings);
    const job = { job_id: "dup-1", image_name: "busybox" };
    for (let i = 0; i < 3; i++) await publishJob(admin, job);
    // Forced redelivery: another client takes one delivery from the agent's consumer and gives it back.
    const consumer = await admin.jetstream().consumers.get(TEST_JS.jobStream, DURABLE);
    const first = await consumer.next({ expires: 2000 });
    assert.ok(first);
    first.nak();
    await using watch = await StatusWatcher.start([nats.url]);
    const executor = new FakeExecutor(500);
    // Three slots: all copies arrive in one pull, while the first one runs.
    await using agent = await TestAgent.start({
      servers: [nats.url],
      executor,
      ...JS,
      maxConcurrent: 3,
    });
    await watch.waitFor((s) => s.job_id === "dup-1" && s.status === "completed");
    await waitUntil(async () => (await consumerState(admin)).ackPending === 0, 10_000, "all three acked");
    assert.equal(executor.calls.length, 1, "one execution");
    assert.equal(agent.journal.get("dup-1")?.deliveries, 3);

    // Copies pulled after the run already got the final status again; the late one must too.
    const completedSoFar = () => watch.of("dup-1").filter((s) => s.status === "completed").length;
    const before = completedSoFar();
    await publishJob(admin, job);
    await waitUntil(
      () => completedSoFar() === before + 1,
      10_000,
      "the final status again",
    );
    const again = watch.of("dup-1").filter((s) => s.status === "completed");
    assert.deepEqual(again.at(-1), again[0], "the same final status, re-published");
    assert.equal(executor.calls.length, 1, "still one execution");
    await waitUntil(() => agent.runner.unsentStatuses === 0, 5000, "the outbox");
    const stored = (await storedStatuses(admin)).filter((s) => s.job_id === "dup-1" && s.status === "completed");
    assert.equal(stored.length, 1, "the status stream deduplicates the re-published final status");
  },
});

Deno.test({
  name: "JetStream: a job published on the lowercase-address subject runs as well, and leaves the stream",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start();
    const executor = new FakeExecutor();
    await using watch = await StatusWatcher.start([nats.url]);
    await using agent = await TestAgent.start({ servers: [nats.url], executor, ...JS });
    await agent.conn.jetstream().publish(DISPATCH.toLowerCase(), body({ job_id: "lower-1", image_name: "busybox" }));
    await agent.conn.jetstream().publish(DISPATCH, body({ job_id: "upper-1", image_name: "busybox" }));
    for (const id of ["lower-1", "upper-1"]) await watch.waitFor((s) => s.job_id === id && s.status === "completed");
    const jsm = await agent.conn.jetstreamManager();
    await waitUntil(async () => (await jsm.streams.info(TEST_JS.jobStream)).state.messages === 0, 10_000, "empty");
    assert.deepEqual(executor.calls.map((j) => j.jobId).sort(), ["lower-1", "upper-1"]);
  },
});

Deno.test("JetStream deliveries are final on the delivery MaxDeliver allows last", async () => {
  const { jsDelivery } = await import("../../src/bus/jetstream_intake.ts");
  const msg = (deliveryCount: number) => ({
    subject: DISPATCH,
    data: body({}),
    info: { deliveryCount } as never,
    ack() {},
    term() {},
    nak() {},
    working() {},
  });
  assert.deepEqual([1, 4, 5, 6].map((n) => jsDelivery(msg(n), 5).final), [false, false, true, true]);
  assert.equal(jsDelivery(msg(1), 5).redeliverable, true);
});

Deno.test({
  name: "JetStream: stopping ends the open pull requests at once instead of waiting for them to expire",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start();
    await using admin = await BusConnection.connect({ servers: [nats.url] }, quietLogger());
    await using agent = await TestAgent.start({
      servers: [nats.url],
      executor: new FakeExecutor(),
      intake: "jetstream",
      jetstream: { ...TEST_JS, pullExpiresMs: 30_000 },
    });
    const jsm = await admin.jetstreamManager();
    await waitUntil(
      async () => (await jsm.consumers.info(TEST_JS.jobStream, DURABLE)).num_waiting > 0,
      10_000,
      "a pull request to be open",
    );
    const t0 = performance.now();
    await agent.stop(0);
    const ms = performance.now() - t0;
    assert.ok(ms < 3000, `stopped ${Math.round(ms)} ms after asking, with a 30 s pull open`);
  },
});
