/**
 * 20 jobs through 4 slots on a real local network, on a CPU-only node where MAX_CONCURRENT_JOBS alone sets the slots:
 * all complete, exactly 4 containers at once at the peak, none holding a GPU.
 */
import assert from "node:assert/strict";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { DockerEvents, jobContainers, StatusWatch } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

const JOBS = 20;
const SLOTS = 4;

Deno.test({
  name:
    "CPU-only node, MAX_CONCURRENT_JOBS=4 (CPU_ONLY_SLOTS left at 1): 20 jobs complete, 4 containers at once, no GPU",
  ignore: !ready,
  async fn() {
    // A key no other suite uses: an agent removes its address's containers that its own journal does not know.
    await using net = await LocalNetwork.start({ agentKeyIndex: 3 });
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    try {
      await using events = await DockerEvents.open(DOCKER_HOST, `lamda.agent=${net.agentAddress}`);
      await using agent = AgentProcess.start({
        env: net.agentEnv(dataDir, { MAX_CONCURRENT_JOBS: String(SLOTS), CPU_ONLY_SLOTS: "1" }),
      });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const ids = Array.from({ length: JOBS }, (_, i) => `conc-${String(i).padStart(2, "0")}`);
      for (const id of ids) {
        await watch.dispatch(net.agentAddress, {
          job_id: id,
          image_name: net.image,
          command: ["sh", "-c", `sleep 3; echo ${id} > /output/r.txt`],
        });
      }
      const done = await Promise.all(ids.map((id) => watch.terminal(id, 300_000)));
      for (const s of done) assert.equal(s.status, "completed", JSON.stringify(s));
      assert.equal(new Set(done.map((s) => s.output_cid)).size, JOBS, "each job uploaded its own output");

      // Docker's own event stream: replaying start/die in order, at most SLOTS containers ran at once.
      assert.equal(events.of("create").length, JOBS, "one container per job");
      const max = events.maxRunning();
      assert.equal(max, SLOTS, `MAX_CONCURRENT_JOBS containers ran at once (max ${max})`);

      // The agent's log: every job started without a GPU (a CPU-only node has none to give).
      const started = agent.records().filter((r) => r.msg === "Job started");
      assert.equal(started.length, JOBS);
      for (const r of started) assert.deepEqual(r.gpus, [], JSON.stringify(r));

      for (const id of ids) assert.deepEqual(await jobContainers(DOCKER_HOST, id), [], `no container left for ${id}`);
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
