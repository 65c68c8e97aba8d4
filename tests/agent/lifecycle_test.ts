/**
 * The agent's lifecycle on a real local network: crash recovery after `kill -9` (one container, one terminal status,
 * output uploaded) and graceful shutdown on SIGTERM (drain, stop at the deadline, a second signal stops at once).
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/docker/mod.ts";
import { fetchInput } from "../../src/storage/mod.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import {
  DockerEvents,
  jobConsumerState,
  jobContainers,
  type Status,
  StatusWatch,
  storedStatuses,
  waitUntil,
} from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

const isTerminal = (s: Status) => s.status === "completed" || s.status === "failed";

/** A job that runs `seconds`, then writes `done` to `/output/r.txt`. */
function sleeper(net: LocalNetwork, jobId: string, seconds: number): Record<string, unknown> {
  return {
    job_id: jobId,
    image_name: net.image,
    command: ["sh", "-c", `sleep ${seconds}; echo done > /output/r.txt`],
  };
}

/** Reads one file of an output CID through the verifying gateway client. */
async function outputFile(net: LocalNetwork, cid: string, file: string): Promise<string> {
  const out = await Deno.makeTempDir({ prefix: "lamda-output-" });
  try {
    await fetchInput(cid, out, {
      gateways: [{ url: net.ipfs.url }],
      maxBytes: 1 << 20,
      maxEntries: 100,
      requestTimeoutMs: 10_000,
      inactivityTimeoutMs: 10_000,
      totalTimeoutMs: 30_000,
      retries: 0,
    });
    return await Deno.readTextFile(`${out}/${file}`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** A fresh local network, a data dir, a status watch and a Docker event stream for one job id. */
async function scene(jobId: string) {
  const stack = new AsyncDisposableStack();
  try {
    // A key no other suite uses: an agent removes its address's containers that its own journal does not know.
    const net = stack.use(await LocalNetwork.start({ agentKeyIndex: 2 }));
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    stack.defer(() => Deno.remove(dataDir, { recursive: true }).catch(() => {}));
    const events = stack.use(await DockerEvents.open(DOCKER_HOST, `lamda.job_id=${jobId}`));
    const watch = stack.use(await StatusWatch.open(net.nats.url));
    return { net, dataDir, events, watch, stack: stack.move() };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

/** How many `tick` lines container `id` has written so far (its log, read through the Engine API). */
async function ticks(id: string): Promise<number> {
  using docker = new DockerClient(DOCKER_HOST);
  const res = await docker.request("GET", `/containers/${id}/logs`, { query: { stdout: true, stderr: true } });
  return (await res.text()).split("tick").length - 1;
}

function started(events: DockerEvents, jobId: string): Promise<void> {
  return waitUntil(() => events.of("start", jobId).length > 0, 90_000, `the container of ${jobId} to start`);
}

Deno.test({
  name: "kill -9 mid-job, then restart on the same DATA_DIR: one container ever, one terminal status, output uploaded",
  ignore: !ready,
  async fn() {
    const jobId = "crash-1";
    const { net, dataDir, events, watch, stack } = await scene(jobId);
    await using _ = stack;
    // A short AckWait makes JetStream redeliver the job message while the first agent is dead.
    const env = net.agentEnv(dataDir, { JOB_ACK_WAIT: "4s" });
    {
      await using first = AgentProcess.start({ env });
      await first.ready();
      await watch.dispatch(net.agentAddress, sleeper(net, jobId, 8));
      await started(events, jobId);
      first.signal("SIGKILL");
      const killed = await first.exit();
      assert.equal(killed.signal, "SIGKILL");
    }
    assert.equal(watch.of(jobId).filter(isTerminal).length, 0, "no terminal status before the restart");

    await using second = AgentProcess.start({ env });
    const readyRec = await second.ready();
    assert.deepEqual(readyRec.recovered, [jobId]);
    const done = await watch.terminal(jobId);
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.equal(await outputFile(net, done.output_cid as string, "r.txt"), "done\n");

    // Once AckWait has passed, JetStream delivers the job message again, now to the restart: it joins the recovered
    // job (or gets its final status again) and is acked; it never starts a second container.
    await second.waitFor(
      (r) => r.job_id === jobId && /^Duplicate of a (job in progress|finished job)/.test(String(r.msg)),
      30_000,
      "the job message delivered again to the restarted agent",
    );
    await waitUntil(
      async () => {
        const c = await jobConsumerState(watch.nc, net.agentAddress);
        return c.pending === 0 && c.ackPending === 0;
      },
      30_000,
      "the job message to be acked",
    );
    await waitUntil(() => events.of("destroy", jobId).length > 0, 30_000, "the container to be removed");
    assert.equal(events.of("create", jobId).length, 1, JSON.stringify(events.events));
    const stored = (await storedStatuses(watch.nc, jobId)).filter(isTerminal);
    assert.equal(stored.length, 1, `one terminal status stored: ${JSON.stringify(stored)}`);
    assert.equal(stored[0].output_cid, done.output_cid);
    // Core subscribers may see the final status re-published for a duplicate; it is always the same status.
    for (const s of watch.of(jobId).filter(isTerminal)) assert.deepEqual(s, done);
    assert.deepEqual(await jobContainers(DOCKER_HOST, jobId), [], "no orphan container");

    second.signal("SIGTERM");
    assert.equal((await second.exit()).code, 0, second.tail());
  },
});

Deno.test({
  name: "SIGTERM mid-job: the job is stopped at SHUTDOWN_TIMEOUT, failed/agent_shutdown is published, exit 0",
  ignore: !ready,
  async fn() {
    const jobId = "term-1";
    const { net, dataDir, events, watch, stack } = await scene(jobId);
    await using _ = stack;
    const env = net.agentEnv(dataDir, { SHUTDOWN_TIMEOUT: "2s", JOB_STOP_GRACE: "2s" });
    await using agent = AgentProcess.start({ env });
    await agent.ready();
    await watch.dispatch(net.agentAddress, sleeper(net, jobId, 120));
    await started(events, jobId);
    const t0 = Date.now();
    agent.signal("SIGTERM");
    const status = await agent.exit();
    const elapsed = Date.now() - t0;
    assert.equal(status.code, 0, agent.tail());
    // SHUTDOWN_TIMEOUT (2 s) + JOB_STOP_GRACE (2 s) + a generous grace for a loaded machine.
    assert.ok(elapsed < 34_000, `exited after ${elapsed} ms`);
    const done = await watch.terminal(jobId, 10_000);
    assert.equal(done.status, "failed");
    assert.equal(done.reason, "agent_shutdown", JSON.stringify(done));
    assert.deepEqual(await jobContainers(DOCKER_HOST, jobId), [], "no container left");
  },
});

Deno.test({
  name: "SIGTERM mid-job: a job that finishes within SHUTDOWN_TIMEOUT completes before the agent exits 0",
  ignore: !ready,
  async fn() {
    const jobId = "term-2";
    const { net, dataDir, events, watch, stack } = await scene(jobId);
    await using _ = stack;
    await using agent = AgentProcess.start({ env: net.agentEnv(dataDir, { SHUTDOWN_TIMEOUT: "60s" }) });
    await agent.ready();
    await watch.dispatch(net.agentAddress, sleeper(net, jobId, 3));
    await started(events, jobId);
    agent.signal("SIGTERM");
    const status = await agent.exit();
    assert.equal(status.code, 0, agent.tail());
    const done = await watch.terminal(jobId, 10_000);
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.equal(await outputFile(net, done.output_cid as string, "r.txt"), "done\n");
    assert.deepEqual(await jobContainers(DOCKER_HOST, jobId), [], "no container left");
  },
});

Deno.test({
  name:
    "a second SIGTERM stops the drain at once; a job ignoring SIGTERM fails agent_shutdown and no container is left",
  ignore: !ready,
  async fn() {
    const jobId = "term-3";
    const { net, dataDir, events, watch, stack } = await scene(jobId);
    await using _ = stack;
    // The job ignores SIGTERM, so stopping it takes the whole JOB_STOP_GRACE (longer than the agent's default
    // 10 s wait for aborted jobs): the agent must still publish the status and remove the container before exiting.
    const env = net.agentEnv(dataDir, { SHUTDOWN_TIMEOUT: "10m", JOB_STOP_GRACE: "12s" });
    await using agent = AgentProcess.start({ env });
    await agent.ready();
    await watch.dispatch(net.agentAddress, {
      job_id: jobId,
      image_name: net.image,
      command: ["sh", "-c", "trap '' TERM; while true; do echo tick; sleep 1; done"],
    });
    await started(events, jobId);
    agent.signal("SIGTERM");
    await agent.waitFor((r) => String(r.msg).startsWith("shutting down"), 10_000, "the drain to start");
    // The job keeps running through the drain: two more ticks after it began.
    const container = events.of("start", jobId)[0].id;
    const before = await ticks(container);
    await waitUntil(async () => await ticks(container) >= before + 2, 15_000, "the job to keep ticking in the drain");
    assert.equal(watch.of(jobId).filter(isTerminal).length, 0, "the first signal lets the job run");
    const t0 = Date.now();
    agent.signal("SIGTERM");
    const status = await agent.exit();
    const elapsed = Date.now() - t0;
    assert.equal(status.code, 0, agent.tail());
    // The container gets JOB_STOP_GRACE (12 s) to stop, far less than the 10-minute drain.
    assert.ok(elapsed >= 10_000, `the container's stop grace was honoured (${elapsed} ms)`);
    assert.ok(elapsed < 60_000, `exited after ${elapsed} ms`);
    const done = await watch.terminal(jobId, 10_000);
    assert.equal(done.status, "failed");
    assert.equal(done.reason, "agent_shutdown", JSON.stringify(done));
    assert.deepEqual(await jobContainers(DOCKER_HOST, jobId), [], "no container left");
  },
});
