/**
 * Images through the running agent: IMAGE_PREPULL pulls in the background while the node is already ready (a job
 * needing that image joins the pull instead of starting its own), a pre-pulled image is kept under any cap, and an
 * image a job pulled goes once the job is done and the cap is exceeded — logged and counted in /metrics.
 */
import assert from "node:assert/strict";
import { startControlledGateway } from "../fault/support.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing, hasImage } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { LocalRegistry, pushFreshImage, registryMissing } from "../support/registry.ts";
import { serviceAvailable } from "../support/service.ts";
import { DockerClient } from "../../src/docker/mod.ts";
import { httpGet, StatusWatch, waitUntil } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing()) &&
  serviceAvailable("docker-registry", registryMissing());

function metric(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

Deno.test({
  name: "pre-pull runs after ready and is joined by a job; it is kept under the cap, a job's own image is removed",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start({ agentKeyIndex: 8 });
    await using registry = await LocalRegistry.start();
    await using proxy = startControlledGateway(registry.url, "stall", {
      faultPaths: /^\/v2\/.+\/blobs\//,
      keepContentLength: true,
    });
    using docker = new DockerClient(DOCKER_HOST);
    const kept = `${proxy.host}/${await pushFreshImage(registry, "lamda-agent/prepulled")}`;
    const other = `${registry.host}/${await pushFreshImage(registry, "lamda-agent/other")}`;
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-images-" });
    try {
      const env = net.agentEnv(dataDir, {
        JOB_INTAKE: "core",
        IMAGE_PREPULL: kept,
        IMAGE_CACHE_MAX_BYTES: "1",
        IMAGE_GC_MIN_AGE: "0s",
      });
      await using agent = AgentProcess.start({ env });
      // Ready while the pre-pull is held mid-blob.
      await agent.ready();
      await proxy.nextStall();
      await waitUntil(
        async () => (await httpGet(env.HTTP_ADDR, "/readyz")).status === 200,
        30_000,
        "/readyz 200 while the pre-pull is held",
      );
      assert.equal(proxy.mode, "stall");
      assert.ok(!agent.records().some((r) => r.msg === "Pre-pulled image"));

      await using watch = await StatusWatch.open(net.nats.url);
      const job = (id: string, image: string) => ({
        job_id: id,
        image_name: image,
        command: ["sh", "-c", "cat /etc/lamda-nonce | wc -c > /output/n"],
      });
      await watch.dispatch(net.agentAddress, job("joins-prepull", kept));
      await agent.waitFor((r) => r.job_id === "joins-prepull" && r.msg === "Job stage" && r.stage === "pulling_image");
      proxy.mode = "pass";
      assert.equal((await watch.terminal("joins-prepull", 60_000)).status, "completed");
      await agent.waitFor((r) => r.msg === "Pre-pulled image" && r.image === kept, 30_000, "the pre-pull's end");

      await watch.dispatch(net.agentAddress, job("own-image", other));
      assert.equal((await watch.terminal("own-image", 60_000)).status, "completed");
      const removed = await agent.waitFor((r) => r.msg === "Removed image", 30_000, "the job's image removed");
      assert.equal(removed.reason, "cache_cap");
      assert.equal(removed.image, other);
      assert.equal(await hasImage(docker, other), false);
      assert.equal(await hasImage(docker, kept), true, "a pre-pulled image is kept");

      const metrics = (await httpGet(env.HTTP_ADDR, "/metrics")).text;
      assert.equal(metric(metrics, 'lamda_image_pulls_total{result="pulled"}'), 2, "one pull per image, joined");
      assert.equal(metric(metrics, 'lamda_image_removals_total{reason="cache_cap"}'), 1);
      assert.ok((metric(metrics, "lamda_image_cache_bytes") ?? 0) > 1_000_000, "the kept image is counted");
      assert.equal(metric(metrics, "lamda_image_cache_images"), 1);
      const ratio = metric(metrics, "lamda_docker_disk_used_ratio");
      assert.ok(ratio !== undefined && ratio > 0 && ratio < 1, `the data root's usage is read: ${ratio}`);
      assert.equal(agent.records().filter((r) => r.msg === "Removed image").length, 1, "nothing else was removed");

      // The journal's history, read by the CLI while the agent runs.
      const jobs = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../../src/main.ts", import.meta.url).pathname, "jobs", "--json"],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(jobs.code, 0, new TextDecoder().decode(jobs.stderr));
      const listed = JSON.parse(new TextDecoder().decode(jobs.stdout)) as { job_id: string; state: string }[];
      assert.deepEqual(listed.map((j) => [j.job_id, j.state]), [["own-image", "completed"], [
        "joins-prepull",
        "completed",
      ]]);
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      for (const image of [kept, other]) {
        await docker.send("DELETE", `/images/${image}`, { query: { force: true }, okStatuses: [404] });
      }
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
