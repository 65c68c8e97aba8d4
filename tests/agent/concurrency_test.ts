/** 20 jobs through 4 slots on a real local network: all complete, at most 4 containers at once, one job per GPU. */
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
    "20 jobs, 4 slots: all complete, never more than 4 job containers at once, each GPU id held by one job at a time",
  ignore: !ready,
  async fn() {
    // A key no other suite uses: an agent removes its address's containers that its own journal does not know.
    await using net = await LocalNetwork.start({ agentKeyIndex: 3 });
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    try {
      await using events = await DockerEvents.open(DOCKER_HOST, `lamda.agent=${net.agentAddress}`);
      await using agent = AgentProcess.start({
        env: net.agentEnv(dataDir, { MAX_CONCURRENT_JOBS: String(SLOTS), CPU_ONLY_SLOTS: String(SLOTS) }),
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
      assert.ok(max <= SLOTS, `${max} containers ran at once`);
      assert.ok(max >= 2, `the slots were used in parallel (max ${max})`);

      // The agent's log, written in order by one process: "Job started" (gpus) … "Job finished" per job.
      const holder = new Map<string, string>();
      const used = new Set<string>();
      let startedCount = 0;
      for (const r of agent.records()) {
        const jobId = r.job_id as string;
        if (r.msg === "Job started") {
          startedCount++;
          const gpus = r.gpus as string[];
          assert.equal(gpus.length, 1, JSON.stringify(r));
          for (const g of gpus) {
            assert.match(g, /^cpu-[0-3]$/);
            assert.equal(holder.get(g), undefined, `${g} given to ${jobId} while ${holder.get(g)} holds it`);
            holder.set(g, jobId);
            used.add(g);
          }
        } else if (r.msg === "Job finished") {
          for (const [g, holderId] of holder) if (holderId === jobId) holder.delete(g);
        }
      }
      assert.equal(startedCount, JOBS);
      assert.equal(holder.size, 0, "every GPU was released");
      assert.ok(used.size >= 2, `more than one pseudo GPU was used: ${[...used]}`);

      for (const id of ids) assert.deepEqual(await jobContainers(DOCKER_HOST, id), [], `no container left for ${id}`);
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
