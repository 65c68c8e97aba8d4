/**
 * dockerd restarts mid-job. The shared daemon must not be restarted, so this scenario runs its own dockerd on a private
 * socket, data-root and exec-root (no bridge, no iptables, so it cannot clash with the shared one).
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/docker/mod.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { dockerMissing } from "../support/docker.ts";
import { buildSampleImage, DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable, stopChild, which } from "../support/service.ts";
import { jobContainers, StatusWatch, waitUntil } from "../agent/helpers.ts";
import { assertNoSecrets, sleep, stageReached, terminals } from "./support.ts";

function privateDockerdMissing(): string | undefined {
  if (!which("dockerd")) return "dockerd is not installed";
  if (Deno.uid() !== 0) return "starting a private dockerd needs root";
  return undefined;
}

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing()) &&
  serviceAvailable("a private dockerd", privateDockerdMissing());

/** A dockerd of this test's own. */
class PrivateDockerd implements AsyncDisposable {
  readonly dir: string;
  readonly host: string;
  #child?: Deno.ChildProcess;

  constructor(dir: string) {
    this.dir = dir;
    this.host = `unix://${dir}/docker.sock`;
  }

  async start(): Promise<void> {
    this.#child = new Deno.Command("dockerd", {
      args: [
        "--host",
        this.host,
        "--data-root",
        `${this.dir}/data`,
        "--exec-root",
        `${this.dir}/exec`,
        "--pidfile",
        `${this.dir}/docker.pid`,
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const end = Date.now() + 60_000;
    for (;;) {
      using docker = new DockerClient(this.host);
      try {
        await docker.send("GET", "/_ping", { signal: AbortSignal.timeout(2000) });
        return;
      } catch (error) {
        if (Date.now() > end) throw new Error("the private dockerd did not start", { cause: error });
        await sleep(300);
      }
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child) await stopChild(child, "SIGTERM", 20_000);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name:
    "dockerd restarts mid-job → its stop ends the container: one failed/nonzero_exit (143), no container left, next job completes",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await LocalNetwork.start();
    await using dockerd = new PrivateDockerd(await Deno.makeTempDir({ prefix: "lamda-dk-" }));
    await dockerd.start();
    await buildSampleImage(dockerd.host);
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-fault-" });
    try {
      await using agent = AgentProcess.start({ env: net.agentEnv(dataDir, { DOCKER_HOST: dockerd.host }) });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const input = await net.addFile("input", "daemon restart\n");
      // Far longer than the scenario: the job can only end by the daemon's stop.
      await watch.dispatch(net.agentAddress, {
        job_id: "dk-1",
        image_name: net.image,
        input_file_cid: input,
        command: ["/bin/sh", "-c", "sleep 60; cat /input/input > /output/o"],
      });
      await stageReached(agent, "dk-1", "running");
      await waitUntil(
        async () => {
          const [c] = await jobContainers(dockerd.host, "dk-1") as { State?: string }[];
          return c?.State === "running";
        },
        30_000,
        "the job container running",
      );
      // Without live-restore a stopping dockerd stops every container: SIGTERM, so the job's shell exits 143. The
      // agent reports what Docker reports (docs/docker.md, classification): the container's own end, and removes it.
      await dockerd.stop();
      await sleep(2000); // the daemon stays down a while
      await dockerd.start();
      const first = await watch.terminal("dk-1", 120_000);
      assert.equal(first.status, "failed", JSON.stringify(first));
      assert.equal(first.reason, "nonzero_exit", JSON.stringify(first));
      assert.equal(first.exit_code, 143, JSON.stringify(first));
      assert.equal(first.output_cid, "");
      assert.deepEqual(await jobContainers(dockerd.host, "dk-1"), [], "no container left behind");

      await watch.dispatch(net.agentAddress, { job_id: "dk-2", image_name: net.image, input_file_cid: input });
      const next = await watch.terminal("dk-2", 120_000);
      assert.equal(next.status, "completed", JSON.stringify(next));
      // Statuses leave the outbox in order: a second terminal status of dk-1 would have come before dk-2's.
      assert.equal(terminals(watch.all, "dk-1").length, 1, JSON.stringify(watch.of("dk-1")));
      assertNoSecrets([agent], watch.all, [net.agentKey, DEV_PINATA_JWT]);
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
