/**
 * Hostile job commands on the busybox sample image: each is contained and reported with the right reason code, while a
 * benign job running alongside completes, and no job container is left behind.
 */
import assert from "node:assert/strict";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, StatusWatch } from "../agent/helpers.ts";
import { assertNoSecrets } from "./support.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

const sh = (script: string) => ["/bin/sh", "-c", script];

Deno.test({
  name: "hostile jobs are contained and reported while a benign job alongside completes",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using net = await LocalNetwork.start();
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-fault-" });
    try {
      await using agent = AgentProcess.start({
        env: net.agentEnv(dataDir, {
          OUTPUT_MAX_BYTES: "1MiB",
          JOB_TMPFS_SIZE: "16MiB",
          JOB_PIDS_LIMIT: "64",
          JOB_MEMORY_LIMIT: "256MiB",
        }),
      });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const input = await net.addFile("input", "benign\n");
      let n = 0;

      /** Dispatches the hostile job and a benign one together; returns the hostile job's terminal status. */
      const alongside = async (job: Record<string, unknown>, timeoutMs = 90_000) => {
        const id = `hostile-${++n}`;
        const benign = `benign-${n}`;
        await watch.dispatch(net.agentAddress, { job_id: id, image_name: net.image, ...job });
        await watch.dispatch(net.agentAddress, {
          job_id: benign,
          image_name: net.image,
          input_file_cid: input,
          command: sh("sleep 2; tr a-z A-Z < /input/input > /output/result.txt"),
        });
        const [status, ok] = await Promise.all([watch.terminal(id, timeoutMs), watch.terminal(benign, timeoutMs)]);
        assert.equal(ok.status, "completed", `the benign job beside ${id}: ${JSON.stringify(ok)}`);
        assert.deepEqual(await jobContainers(DOCKER_HOST, id), [], "the hostile container is removed");
        return status;
      };

      await t.step("fork bomb → stopped at the pids limit and the timeout", async () => {
        const s = await alongside({ command: sh("while true; do sleep 600 & done"), timeout_seconds: 8 });
        assert.equal(s.status, "failed");
        assert.ok(["timeout", "nonzero_exit"].includes(s.reason as string), JSON.stringify(s));
      });

      await t.step("memory bomb → killed at the memory limit (oom) or refused memory (nonzero_exit)", async () => {
        const s = await alongside({
          command: sh("x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"),
          resources: { memory_mb: 64 },
          timeout_seconds: 60,
        });
        assert.equal(s.status, "failed");
        assert.ok(["oom", "nonzero_exit"].includes(s.reason as string), JSON.stringify(s));
      });

      await t.step("filling /tmp beyond its tmpfs size → the write fails inside the job (nonzero_exit)", async () => {
        const s = await alongside({ command: sh("dd if=/dev/zero of=/tmp/fill bs=1M count=4096") });
        assert.equal(s.status, "failed");
        assert.equal(s.reason, "nonzero_exit", JSON.stringify(s));
      });

      await t.step("output beyond OUTPUT_MAX_BYTES → failed/output_too_large, nothing uploaded", async () => {
        const s = await alongside({ command: sh("dd if=/dev/zero of=/output/big bs=1M count=3") });
        assert.equal(s.status, "failed");
        assert.equal(s.reason, "output_too_large", JSON.stringify(s));
        assert.equal(s.output_cid, "");
      });

      await t.step("an output symlink to /etc/shadow → refused (upload_failed), never followed", async () => {
        const s = await alongside({ command: sh("ln -s /etc/shadow /output/shadow") });
        assert.equal(s.status, "failed");
        assert.equal(s.reason, "upload_failed", JSON.stringify(s));
        assert.match(String(s.message), /symlink|link/i);
      });

      await t.step("host services and the metadata address are unreachable from a job", async () => {
        const targets = [
          `127.0.0.1 ${net.nats.port}`,
          `127.0.0.1 ${net.anvil.port}`,
          `172.17.0.1 ${net.nats.port}`,
          `172.17.0.1 ${net.anvil.port}`,
          "172.17.0.1 2375",
          "169.254.169.254 80",
        ];
        const probe = targets.map((t) => `(nc -w 2 ${t} </dev/null && echo "REACHED ${t}" || echo "blocked ${t}")`)
          .join("; ");
        const s = await alongside({
          command: sh(`{ ${probe}; } > /output/probe.txt 2>&1; ip addr >> /output/probe.txt`),
        });
        assert.equal(s.status, "completed", JSON.stringify(s));
        const text = (await net.readOutput(s.output_cid as string))["probe.txt"];
        assert.doesNotMatch(text, /REACHED/, text);
        assert.equal(text.match(/blocked/g)?.length, targets.length, text);
      });

      await t.step("100,000 tiny output files → bounded: uploaded or refused, in bounded time", async () => {
        const t0 = performance.now();
        const s = await alongside({
          command: sh("cd /output && seq 1 100000 | xargs touch"),
          timeout_seconds: 150,
        }, 240_000);
        const secs = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(`100,000 output files: ${s.status}${s.reason ? `/${s.reason}` : ""} in ${secs} s`);
        if (s.status === "completed") assert.ok(Number(s.output_files) >= 100_000, JSON.stringify(s).slice(0, 400));
        else assert.ok(["output_too_large", "timeout"].includes(s.reason as string), JSON.stringify(s));
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
