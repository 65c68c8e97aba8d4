/**
 * A cancel or shutdown reaches the container whenever it arrives: also while the container is being started or its
 * log stream is being opened, before the agent waits on it. A proxy in front of the real dockerd holds those calls
 * and aborts the job while they are in flight.
 */
import assert from "node:assert/strict";
import { containerName } from "../../src/docker/mod.ts";
import { sleep } from "../../src/timers.ts";
import { DOCKER_HOST } from "../support/docker.ts";
import { containerExists, dockerReady, testEngine } from "./support/harness.ts";
import { isGpuProbe, RecordingProxy } from "./support/recording_proxy.ts";

const ready = await dockerReady();

/** What the job component aborts with (its `JobAbort`). */
const abortWith = (reason: "cancelled" | "agent_shutdown") => Object.assign(new Error(reason), { reason });

for (
  const [call, reason] of [
    [/^\/containers\/[^/]+\/logs\?/, "cancelled"],
    [/^\/containers\/[^/]+\/logs\?/, "agent_shutdown"],
    [/^\/containers\/[^/]+\/start/, "agent_shutdown"],
  ] as const
) {
  const what = call.source.includes("logs") ? "its log stream is being opened" : "it is being started";
  Deno.test({
    name: `a ${reason === "cancelled" ? "cancel" : "shutdown"} arriving while ${what} stops the container ` +
      `promptly and the run ends ${reason}`,
    ignore: !ready,
    async fn() {
      const ctl = new AbortController();
      let held = false;
      await using proxy = RecordingProxy.start(DOCKER_HOST, {
        async before(request) {
          // The engine's GPU probe at connect starts a container too; only the job's calls are held.
          if (held || isGpuProbe(request) || !call.test(request.path)) return;
          held = true;
          ctl.abort(abortWith(reason));
          // The call reaches the daemon only after the abort: it is in flight when the abort lands.
          await sleep(300);
        },
      });
      await using t = await testEngine({ host: proxy.host });
      const jobId = `window-${reason}-${call.source.includes("logs") ? "logs" : "start"}`;
      const began = Date.now();
      const outcome = await t.engine.run({
        jobId,
        attempt: 1,
        image: t.image,
        outputDir: t.outputDir,
        command: ["sh", "-c", "exec busybox sleep 3600"],
        // Were the abort missed, the run would end only at this limit, as a timeout.
        timeoutSeconds: 20,
      }, { signal: ctl.signal });
      const elapsed = Date.now() - began;
      assert.ok(held, "the call was held");
      assert.ok(!outcome.ok && outcome.reason === reason, JSON.stringify(outcome));
      assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
      assert.equal(await containerExists(t.engine, containerName(jobId, 1)), false, "the container is gone");
    },
  });
}
