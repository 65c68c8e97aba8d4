/** The hardened profile, seen from outside (inspect) and from inside the container. */
import assert from "node:assert/strict";
import { containerName } from "../../src/docker/mod.ts";
import { containerExists, dockerReady, TEST_LIMITS, testEngine } from "./support/harness.ts";

const ready = await dockerReady();

/** The parts of `GET /containers/{id}/json` this test reads. */
interface Inspect {
  HostConfig: {
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    Privileged: boolean;
    ReadonlyRootfs: boolean;
    Tmpfs: Record<string, string>;
    PidsLimit: number;
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    ShmSize: number;
    NetworkMode: string;
    LogConfig: { Type: string; Config: Record<string, string> };
    Binds: string[] | null;
    DeviceRequests: unknown[] | null;
  };
  Mounts: { Source: string; Destination: string; RW: boolean }[];
  Config: { Labels: Record<string, string> };
}

// Runs checks inside, prints their results, then waits for the host to create /input/go so the test can inspect.
const SCRIPT = [
  "grep CapEff /proc/self/status",
  "touch /rootfile 2>/dev/null && echo ROOT=writable || echo ROOT=readonly",
  "touch /input/x 2>/dev/null && echo INPUT=writable || echo INPUT=readonly",
  "echo result > /results/out.txt && echo OUTPUT=ok",
  "echo t > /tmp/t && echo TMP=ok",
  "echo NET=$(busybox awk -F: 'NR>2{gsub(/ /,\"\",$1); print $1}' /proc/net/dev | busybox tr '\\n' ,)",
  "echo SHM=$(busybox df -k /dev/shm | busybox awk 'NR==2{print $2}')",
  "echo CHECKS_DONE",
  "while [ ! -e /input/go ]; do busybox sleep 0.1; done",
].join("; ");

Deno.test({
  name: "job container runs with every hardened setting: inspect and in-container checks agree",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    const lines: string[] = [];
    let inspected: Inspect | undefined;
    let inspectError: unknown;
    const name = containerName("harden-1", 1);
    const outcome = await t.engine.run({
      jobId: "harden-1",
      attempt: 1,
      image: t.image,
      command: ["sh", "-c", SCRIPT],
      inputDir: t.inputDir,
      outputDir: t.outputDir,
      outputPath: "/results",
    }, {
      onLine: (stream, line) => {
        lines.push(`${stream}:${line}`);
        if (line === "CHECKS_DONE") {
          t.engine.client.json<Inspect>("GET", `/containers/${name}/json`)
            .then((i) => inspected = i, (e) => inspectError = e)
            .finally(() => Deno.writeTextFile(`${t.inputDir}/go`, ""));
        }
      },
    });
    assert.equal(inspectError, undefined);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    assert.ok(inspected, "container was inspected while running");
    const hc = inspected.HostConfig;
    assert.deepEqual(hc.CapDrop, ["ALL"]);
    assert.equal(hc.CapAdd, null);
    assert.deepEqual(hc.SecurityOpt, ["no-new-privileges"]);
    assert.equal(hc.Privileged, false);
    assert.equal(hc.ReadonlyRootfs, true);
    assert.match(hc.Tmpfs["/tmp"], new RegExp(`size=${TEST_LIMITS.tmpfsSizeBytes}\\b`));
    assert.equal(hc.PidsLimit, TEST_LIMITS.pidsLimit);
    assert.equal(hc.Memory, TEST_LIMITS.memoryBytes);
    assert.equal(hc.MemorySwap, TEST_LIMITS.memoryBytes);
    assert.equal(hc.NanoCpus, TEST_LIMITS.cpus * 1e9);
    assert.equal(hc.ShmSize, TEST_LIMITS.shmSizeBytes);
    assert.equal(hc.NetworkMode, "none");
    assert.equal(hc.LogConfig.Type, "json-file");
    assert.ok(Number(hc.LogConfig.Config["max-size"]) > 0);
    assert.equal(hc.Binds, null);
    assert.equal(hc.DeviceRequests, null);
    // Exactly the two per-job mounts; nothing else of the host, never the Docker socket.
    const mounts = inspected.Mounts.map((m) => ({ Source: m.Source, Destination: m.Destination, RW: m.RW }))
      .sort((a, b) => a.Destination.localeCompare(b.Destination));
    assert.deepEqual(mounts, [
      { Source: t.inputDir, Destination: "/input", RW: false },
      { Source: t.outputDir, Destination: "/results", RW: true },
    ]);
    assert.ok(!JSON.stringify(inspected).includes("docker.sock"));
    assert.equal(inspected.Config.Labels["lamda.agent"], t.engine.agentAddress);
    assert.equal(inspected.Config.Labels["lamda.job_id"], "harden-1");
    assert.equal(inspected.Config.Labels["lamda.attempt"], "1");
    // Inside.
    assert.ok(lines.includes("stdout:CapEff:\t0000000000000000"), lines.join("\n"));
    assert.ok(lines.includes("stdout:ROOT=readonly"));
    assert.ok(lines.includes("stdout:INPUT=readonly"));
    assert.ok(lines.includes("stdout:OUTPUT=ok"));
    assert.ok(lines.includes("stdout:TMP=ok"));
    assert.ok(lines.includes("stdout:NET=lo,"), "only the loopback interface exists");
    assert.ok(lines.includes(`stdout:SHM=${TEST_LIMITS.shmSizeBytes / 1024}`));
    assert.equal(await Deno.readTextFile(`${t.outputDir}/out.txt`), "result\n");
    assert.equal(await containerExists(t.engine, name), false, "container removed after success");
  },
});

Deno.test({
  name: "job without command runs the image's own CMD; the job's env reaches the container",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    const lines: string[] = [];
    // The test image's CMD is /bin/sh with no input: it exits 0 at once.
    const own = await t.engine.run({ jobId: "own-cmd", attempt: 1, image: t.image, outputDir: t.outputDir });
    assert.ok(own.ok, JSON.stringify(own));
    const withEnv = await t.engine.run({
      jobId: "env-1",
      attempt: 1,
      image: t.image,
      outputDir: t.outputDir,
      command: ["sh", "-c", 'echo "GREETING=$GREETING"'],
      env: { GREETING: "hello world" },
    }, { onLine: (_s, l) => lines.push(l) });
    assert.ok(withEnv.ok);
    assert.deepEqual(lines, ["GREETING=hello world"]);
  },
});
