/** Resource limits and time: fork bomb, memory hog, timeout, cancel — each ends cleanly with no container left. */
import assert from "node:assert/strict";
import { containerName } from "../../src/docker/mod.ts";
import { containerExists, dockerReady, testEngine } from "./support/harness.ts";

const ready = await dockerReady();

Deno.test({
  name: "fork bomb under a low pids limit fails alone while a second job succeeds",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({ limits: { pidsLimit: 32 } });
    // The neighbour forks ten times a second for as long as the bomb runs, then finishes when told to.
    let neighbourReady!: () => void;
    const ready = new Promise<void>((r) => neighbourReady = r);
    const lines: string[] = [];
    const neighbour = t.engine.run({
      jobId: "neighbour",
      attempt: 1,
      image: t.image,
      inputDir: t.inputDir,
      outputDir: t.outputDir,
      command: ["sh", "-c", "echo ready; while [ ! -e /input/go ]; do busybox sleep 0.1; done; echo still fine"],
    }, {
      onLine: (_s, l) => {
        lines.push(l);
        if (l === "ready") neighbourReady();
      },
    });
    await ready;
    const bombed = await t.engine.run({
      jobId: "bomb",
      attempt: 1,
      image: t.image,
      outputDir: t.outputDir,
      // Spawns processes until the pids limit refuses a fork.
      command: ["sh", "-c", "while :; do busybox sleep 1000 & done"],
      timeoutSeconds: 5,
      resources: { cpus: 0.5 },
    });
    await Deno.writeTextFile(`${t.inputDir}/go`, "");
    const other = await neighbour;
    assert.ok(other.ok, JSON.stringify(other));
    assert.deepEqual(lines, ["ready", "still fine"]);
    // busybox sh gives up with exit 2 when a fork is refused; a shell that kept trying would hit the timeout.
    assert.ok(!bombed.ok && ["nonzero_exit", "timeout"].includes(bombed.reason), JSON.stringify(bombed));
    assert.match(bombed.output!.stderrTail, /can't fork|Resource temporarily unavailable/);
    assert.equal(await containerExists(t.engine, containerName("bomb", 1)), false);
  },
});

Deno.test({
  name: "memory hog ends as oom",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({ limits: { memoryBytes: 64 * 1024 * 1024 } });
    const outcome = await t.engine.run({
      jobId: "hog",
      attempt: 1,
      image: t.image,
      outputDir: t.outputDir,
      command: ["sh", "-c", "a=$(busybox head -c 300000000 /dev/zero | busybox tr '\\0' x); echo survived"],
    });
    assert.ok(!outcome.ok && outcome.reason === "oom", JSON.stringify(outcome));
    assert.doesNotMatch(outcome.output!.stdoutTail, /survived/);
    assert.equal(await containerExists(t.engine, containerName("hog", 1)), false);
  },
});

Deno.test({
  name: "sleep 3600 with a 2 s timeout ends as timeout within the grace period and leaves no container",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({ limits: { stopGraceMs: 2000 } });
    const began = Date.now();
    const outcome = await t.engine.run({
      jobId: "sleeper",
      attempt: 1,
      image: t.image,
      outputDir: t.outputDir,
      command: ["sleep", "3600"],
      timeoutSeconds: 2,
    });
    const elapsed = Date.now() - began;
    assert.ok(!outcome.ok && outcome.reason === "timeout", JSON.stringify(outcome));
    assert.match(outcome.message, /time limit of 2 s/);
    assert.ok(elapsed >= 2000 && elapsed < 2000 + 2000 + 3000, `took ${elapsed} ms`);
    assert.equal(await containerExists(t.engine, containerName("sleeper", 1)), false);
  },
});

Deno.test({
  name: "cancel mid-run stops the container and ends as cancelled (or agent_shutdown on shutdown)",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    for (const reason of ["cancelled", "agent_shutdown"] as const) {
      const ctl = new AbortController();
      const began = Date.now();
      const outcome = await t.engine.run({
        jobId: `cancel-${reason}`,
        attempt: 1,
        image: t.image,
        outputDir: t.outputDir,
        command: ["sh", "-c", "echo started; exec busybox sleep 3600"],
      }, {
        signal: ctl.signal,
        // The job component aborts with a JobAbort carrying its reason.
        onLine: (_s, line) => line === "started" && ctl.abort(Object.assign(new Error(reason), { reason })),
      });
      assert.ok(!outcome.ok && outcome.reason === reason, JSON.stringify(outcome));
      assert.ok(Date.now() - began < 10_000);
      assert.equal(await containerExists(t.engine, containerName(`cancel-${reason}`, 1)), false);
    }
  },
});
