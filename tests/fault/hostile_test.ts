/**
 * Hostile job commands on the busybox sample image: each is contained by the limit meant for it and reported with one
 * exact reason code within a bound, while a benign job running alongside completes, and no job container is left
 * behind. The network probes have positive controls: the same probe reaches the same targets from a container on
 * the host's network, so "blocked" comes from the isolation, not from a broken probe.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/docker/mod.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, type Status, StatusWatch } from "../agent/helpers.ts";
import { assertNoSecrets, startHoldingPinata, startTcpForward } from "./support.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

const sh = (script: string) => ["/bin/sh", "-c", script];

/** One line per target: `REACHED <host port>`, or `blocked <host port>: <nc's error>`. */
function probeScript(targets: string[]): string {
  return targets
    .map((t) => `r=$(nc -w 2 ${t} </dev/null 2>&1 >/dev/null) && echo "REACHED ${t}" || echo "blocked ${t}: $r"`)
    .join("; ");
}

/** The probe's verdict per target: `REACHED`, or nc's error. */
function verdicts(text: string, targets: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of targets) {
    const line = text.split(/\r?\n/).find((l) => l === `REACHED ${t}` || l.startsWith(`blocked ${t}: `));
    out[t] = line === undefined ? "no line" : line === `REACHED ${t}` ? "REACHED" : line.slice(`blocked ${t}: `.length);
  }
  return out;
}

/** Runs `script` in a throwaway container of `image` on `networkMode` (not a job: the control); returns its output. */
async function runControl(image: string, networkMode: string, script: string): Promise<string> {
  using docker = new DockerClient(DOCKER_HOST);
  const { Id } = await docker.json<{ Id: string }>("POST", "/containers/create", {
    body: {
      Image: image,
      Cmd: sh(script),
      Tty: true,
      Labels: { "lamda.test": "hostile-control" },
      HostConfig: { NetworkMode: networkMode },
    },
  });
  try {
    await docker.send("POST", `/containers/${Id}/start`);
    await docker.json("POST", `/containers/${Id}/wait`, { signal: AbortSignal.timeout(60_000) });
    const res = await docker.request("GET", `/containers/${Id}/logs`, { query: { stdout: true, stderr: true } });
    return await res.text();
  } finally {
    await docker.send("DELETE", `/containers/${Id}`, { query: { force: true }, okStatuses: [404] });
  }
}

/** The host's first non-loopback IPv4 address: where a service bound to all interfaces also answers. */
function hostAddress(): string {
  const nic = Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."));
  assert.ok(nic, "the host has a non-loopback IPv4 address");
  return nic.address;
}

Deno.test({
  name: "hostile jobs are contained and reported while a benign job alongside completes",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using net = await LocalNetwork.start();
    // Counts uploads per job: "nothing uploaded" is checked, not assumed.
    await using pinata = startHoldingPinata(net.ipfs.url);
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-fault-" });
    try {
      await using agent = AgentProcess.start({
        env: net.agentEnv(dataDir, {
          OUTPUT_MAX_BYTES: "1MiB",
          JOB_TMPFS_SIZE: "16MiB",
          JOB_PIDS_LIMIT: "64",
          JOB_MEMORY_LIMIT: "256MiB",
          PINATA_API_URL: pinata.url,
        }),
      });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const input = await net.addFile("input", "benign\n");
      let n = 0;

      /**
       * Dispatches the hostile job and a benign one together; returns the hostile job's terminal status and the
       * seconds from dispatch to it.
       */
      const alongside = async (job: Record<string, unknown>, timeoutMs = 90_000) => {
        const id = `hostile-${++n}`;
        const benign = `benign-${n}`;
        const t0 = performance.now();
        await watch.dispatch(net.agentAddress, { job_id: id, image_name: net.image, ...job });
        await watch.dispatch(net.agentAddress, {
          job_id: benign,
          image_name: net.image,
          input_file_cid: input,
          command: sh("sleep 2; tr a-z A-Z < /input/input > /output/result.txt"),
        });
        const hostile = watch.terminal(id, timeoutMs).then((s) => ({ s, secs: (performance.now() - t0) / 1000 }));
        const [{ s, secs }, ok] = await Promise.all([hostile, watch.terminal(benign, timeoutMs)]);
        assert.equal(ok.status, "completed", `the benign job beside ${id}: ${JSON.stringify(ok)}`);
        assert.deepEqual(await jobContainers(DOCKER_HOST, id), [], "the hostile container is removed");
        return { id, s, secs };
      };
      const failedWith = (s: Status, reason: string, exitCode?: number) => {
        assert.equal(s.status, "failed", JSON.stringify(s));
        assert.equal(s.reason, reason, JSON.stringify(s));
        if (exitCode !== undefined) assert.equal(s.exit_code, exitCode, JSON.stringify(s));
      };

      await t.step(
        "fork bomb → the 65th process is refused (pids limit 64): failed/nonzero_exit (exit 2), no timeout",
        async () => {
          // Each sleep counts its number; busybox sh exits 2 when fork fails (EAGAIN from the pids cgroup). Without the
          // limit it would fork on until the 30 s timeout.
          const bomb = "exec 2>&1; i=0; while true; do sleep 600 & i=$((i+1)); echo $i; done";
          const { s, secs } = await alongside({ command: sh(bomb), timeout_seconds: 30 });
          failedWith(s, "nonzero_exit", 2);
          const last = /(\d+)\s*\n[^\n]*can't fork: Resource temporarily unavailable/.exec(String(s.message));
          assert.ok(last, `the shell could not fork: ${JSON.stringify(s)}`);
          // The container's init (`Init: true`), the shell and 62 sleeps fill the 64.
          assert.equal(Number(last[1]), 62, "JOB_PIDS_LIMIT=64 holds");
          assert.ok(secs < 25, `stopped by the pids limit, not the timeout: ${secs.toFixed(1)} s`);
        },
      );

      await t.step(
        "memory bomb under memory_mb 64 → killed by the OOM killer below 64 MiB: failed/oom (exit 137)",
        async () => {
          // The string doubles and prints its length: the last length shows which limit held (the job's 64 MiB, not
          // the node's JOB_MEMORY_LIMIT of 256 MiB, where it reaches 64 MiB).
          const bomb = "exec 2>&1; x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; echo ${#x}; done";
          const { s, secs } = await alongside({ command: sh(bomb), resources: { memory_mb: 64 }, timeout_seconds: 60 });
          failedWith(s, "oom", 137);
          const lengths = [...String(s.message).matchAll(/^(\d+)$/gm)].map((m) => Number(m[1]));
          assert.ok(lengths.length > 0, `the output tail is in the message: ${JSON.stringify(s)}`);
          assert.ok(lengths.at(-1)! < 64 << 20, `killed before a 64 MiB string: last length ${lengths.at(-1)}`);
          assert.ok(secs < 55, `killed at the memory limit, not the timeout: ${secs.toFixed(1)} s`);
        },
      );

      await t.step(
        "filling /tmp → the write stops at JOB_TMPFS_SIZE (16 MiB): failed/nonzero_exit (exit 1)",
        async () => {
          const { s } = await alongside({ command: sh("dd if=/dev/zero of=/tmp/fill bs=1M count=4096") });
          failedWith(s, "nonzero_exit", 1);
          // dd's own count: 16 one-MiB blocks fit, the 17th does not.
          assert.match(String(s.message), /No space left on device/, JSON.stringify(s));
          assert.match(String(s.message), /16\+0 records out/, JSON.stringify(s));
        },
      );

      await t.step("output beyond OUTPUT_MAX_BYTES → failed/output_too_large, nothing uploaded", async () => {
        const { id, s } = await alongside({ command: sh("dd if=/dev/zero of=/output/big bs=1M count=3") });
        failedWith(s, "output_too_large");
        assert.equal(s.output_cid, "");
        assert.ok(pinata.jobs.includes(`benign-${n}`), "the upload counter sees the benign job's upload");
        assert.equal(pinata.jobs.includes(id), false, `no upload request for ${id}`);
      });

      await t.step("an output symlink to /etc/shadow → refused (upload_failed), never followed", async () => {
        const { id, s } = await alongside({ command: sh("ln -s /etc/shadow /output/shadow") });
        failedWith(s, "upload_failed");
        assert.match(String(s.message), /symlink|link/i);
        assert.equal(pinata.jobs.includes(id), false, `no upload request for ${id}`);
      });

      await t.step(
        "host services and the metadata address are unreachable from a job; reachable without isolation",
        async () => {
          const host = hostAddress();
          // NATS and anvil listen on loopback only; these stand for an operator binding them to every interface.
          await using natsOut = startTcpForward(host, net.nats.port);
          await using anvilOut = startTcpForward(host, net.anvil.port);
          // A Docker API on TCP (`-H tcp://0.0.0.0:2375`); if something already listens there, that answers instead.
          await using dockerTcp = startTcpForward(host, undefined, 2375);
          const loopback = [`127.0.0.1 ${net.nats.port}`, `127.0.0.1 ${net.anvil.port}`];
          const hostServices = [`${host} ${natsOut.port}`, `${host} ${anvilOut.port}`, `${host} ${dockerTcp.port}`];
          const metadata = "169.254.169.254 80";
          const targets = [...loopback, ...hostServices, metadata];
          const probe = probeScript(targets);

          // Control: the same probe in a container of the same image on the host's network reaches every service.
          const control = verdicts(await runControl(net.image, "host", probe), targets);
          for (const target of [...loopback, ...hostServices]) {
            assert.equal(
              control[target],
              "REACHED",
              `control: ${target} is reachable without isolation: ${JSON.stringify(control)}`,
            );
          }

          const { s } = await alongside({
            command: sh(`{ ${probe}; } > /output/probe.txt 2>&1; ip addr > /output/ip.txt`),
          });
          assert.equal(s.status, "completed", JSON.stringify(s));
          const out = await net.readOutput(s.output_cid as string);
          const job = verdicts(out["probe.txt"], targets);
          // Loopback is the container's own: nothing listens there. Every other address has no route at all.
          for (const target of loopback) {
            assert.match(job[target], /Connection refused/, `${target}: ${JSON.stringify(job)}`);
          }
          for (const target of [...hostServices, metadata]) {
            assert.match(job[target], /Network is unreachable/, `${target}: ${JSON.stringify(job)}`);
          }
          const nics = [...out["ip.txt"].matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1]);
          assert.deepEqual(nics, ["lo"], out["ip.txt"]);
        },
      );

      await t.step("100,000 tiny output files → completed with all of them counted, in under 4 minutes", async () => {
        const { s, secs } = await alongside({
          command: sh("cd /output && seq 1 100000 | xargs touch"),
          timeout_seconds: 150,
        }, 300_000);
        console.log(`100,000 output files: ${s.status}${s.reason ? `/${s.reason}` : ""} in ${secs.toFixed(1)} s`);
        assert.equal(s.status, "completed", JSON.stringify(s).slice(0, 400));
        assert.equal(s.output_files, 100_000, JSON.stringify(s).slice(0, 400));
        assert.ok(secs < 240, `bounded: ${secs.toFixed(1)} s`);
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
