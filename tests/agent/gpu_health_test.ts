/**
 * GPU health through the running agent, with the fake nvidia-smi replaying the recorded H100 host: a fatal reading
 * drains the GPU (no new job; `/readyz` 503 once every GPU is drained; `/metrics` and presence say why), and the GPU
 * comes back only after GPU_HEALTH_RECOVERY of healthy readings. The unhealthy readings are test-made: the recorded
 * row with its uncorrected-ECC count raised, its memory row with a remap pending, and nvidia-smi's published "GPU is
 * lost" line in place of the row.
 */
import assert from "node:assert/strict";
import { AgentProcess } from "../support/agent_process.ts";
import { dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { fakeNvidiaSmi } from "../gpu/fake_nvidia_smi.ts";
import { httpGet, StatusWatch, waitUntil } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

const UUID = "GPU-00000000-0000-0000-0000-000000000000";
const FIXTURE = new URL("../../testdata/nvidia-smi/h100-single/", import.meta.url).pathname;

function metric(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

Deno.test({
  name:
    "an unhealthy GPU is drained (readyz, metrics, presence, gpu_unhealthy), then comes back after the recovery time",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start({ agentKeyIndex: 9 });
    await using fake = await fakeNvidiaSmi("h100-single");
    // A copy of the recording the test may change while the agent runs.
    const fixture = await Deno.makeTempDir({ prefix: "lamda-gpu-fixture-" });
    for (const f of ["identity.csv", "health.csv", "table.txt", "memory.csv"]) {
      await Deno.copyFile(`${FIXTURE}${f}`, `${fixture}/${f}`);
    }
    await Deno.writeTextFile(`${fake.dir}/fixture`, `${fixture}/`);
    const recorded = await Deno.readTextFile(`${fixture}/health.csv`);
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-gpu-health-" });
    try {
      const env = net.agentEnv(dataDir, {
        GPU_REQUIRED: "true",
        NVIDIA_SMI_PATH: fake.path,
        GPU_HEALTH_INTERVAL: "1s",
        GPU_HEALTH_RECOVERY: "3s",
        JOB_INTAKE: "core",
      });
      await using agent = AgentProcess.start({ env });
      await agent.ready();
      await waitUntil(async () => (await httpGet(env.HTTP_ADDR, "/readyz")).status === 200, 30_000, "ready");
      const metrics = async () => (await httpGet(env.HTTP_ADDR, "/metrics")).text;
      assert.equal(metric(await metrics(), `lamda_gpu_healthy{uuid="${UUID}"}`), 1);

      // Two uncorrected ECC errors since the driver loaded.
      await Deno.writeTextFile(`${fixture}/health.csv`, recorded.replace(", 0, 0, 0x", ", 0, 2, 0x"));
      const drained = await agent.waitFor((r) =>
        r.msg === "GPU drained: it takes no new job until it reads healthy again"
      );
      assert.match(JSON.stringify(drained.conditions), /uncorrected_ecc: 2 uncorrected ECC error/);
      const readyz = await httpGet(env.HTTP_ADDR, "/readyz");
      assert.equal(readyz.status, 503);
      assert.match(
        JSON.parse(readyz.text).components.gpus.detail,
        /every GPU is drained as unhealthy \(uncorrected_ecc\)/,
      );
      const m = await metrics();
      assert.equal(metric(m, `lamda_gpu_healthy{uuid="${UUID}"}`), 0);
      assert.equal(metric(m, `lamda_gpu_condition{uuid="${UUID}",condition="uncorrected_ecc",severity="fatal"}`), 1);

      await using watch = await StatusWatch.open(net.nats.url);
      await using beacons = await StatusWatch.open(net.nats.url, `agent.heartbeat.${net.agentAddress}`);
      const presence = await beacons.waitFor((p) => Array.isArray(p.gpu_health), 10_000);
      assert.deepEqual(presence.gpu_health, [{ id: UUID, healthy: false, conditions: ["uncorrected_ecc"] }]);
      await watch.dispatch(net.agentAddress, { job_id: "while-drained", image_name: net.image, command: ["true"] });
      const refused = await watch.terminal("while-drained");
      assert.deepEqual([refused.status, refused.reason], ["failed", "gpu_unhealthy"], JSON.stringify(refused));

      // Healthy again: back only after 3 s of healthy readings.
      await Deno.writeTextFile(`${fixture}/health.csv`, recorded);
      const t0 = Date.now();
      await agent.waitFor((r) => r.msg === "GPU healthy again: it takes jobs", 30_000, "the recovery");
      assert.ok(Date.now() - t0 >= 2000, `not before the recovery time (${Date.now() - t0} ms)`);
      assert.equal((await httpGet(env.HTTP_ADDR, "/readyz")).status, 200);

      // Rows pending remapping (the recorded memory row with `remapped_rows.pending` turned to Yes).
      const memory = await Deno.readTextFile(`${fixture}/memory.csv`);
      await Deno.writeTextFile(`${fixture}/memory.csv`, memory.replace("[N/A], No, No", "[N/A], Yes, No"));
      await waitUntil(
        async () =>
          metric(await metrics(), `lamda_gpu_condition{uuid="${UUID}",condition="pending_remap",severity="fatal"}`) ===
            1,
        30_000,
        "pending_remap",
      );
      assert.equal(metric(await metrics(), `lamda_gpu_healthy{uuid="${UUID}"}`), 0);
      await Deno.writeTextFile(`${fixture}/memory.csv`, memory);

      // nvidia-smi can no longer reach it: lost.
      await Deno.writeTextFile(
        `${fixture}/health.csv`,
        "Unable to determine the device handle for GPU0: 0000:00:09.0: GPU is lost.  Reboot the system to recover this GPU\n",
      );
      await waitUntil(
        async () =>
          metric(await metrics(), `lamda_gpu_condition{uuid="${UUID}",condition="lost",severity="fatal"}`) === 1,
        30_000,
        "lost",
      );
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      await Deno.remove(fixture, { recursive: true }).catch(() => {});
    }
  },
});
