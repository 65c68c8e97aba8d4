/** What the real daemon says about host paths never reaches a job's status; the job's own paths do. */
import assert from "node:assert/strict";
import { HOST_PATH } from "../../src/docker/mod.ts";
import { dockerReady, testEngine } from "./support/harness.ts";

const ready = await dockerReady();

Deno.test({
  name: "a daemon error naming the job's host directory ends the run without that path in its message",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    const missing = `${t.outputDir}-gone-${crypto.randomUUID()}/output`;
    const outcome = await t.engine.run({
      jobId: "host-path",
      attempt: 1,
      image: t.image,
      outputDir: missing,
      outputPath: "/results",
      command: ["sh", "-c", "exit 0"],
    });
    assert.ok(!outcome.ok, JSON.stringify(outcome));
    // The daemon's own words ("bind source path does not exist: /tmp/…"), with the host path replaced.
    assert.match(outcome.message, /bind source path does not exist/);
    assert.ok(!outcome.message.includes(missing), outcome.message);
    assert.ok(!outcome.message.includes(t.outputDir), outcome.message);
    assert.ok(outcome.message.includes(HOST_PATH), outcome.message);
    // The operator's own log keeps the daemon's full words, path included.
    const logged = t.logs.records.find((r) => r.msg === "job container could not be created");
    assert.ok(JSON.stringify(logged?.fields.error).includes(missing), JSON.stringify(logged));
  },
});
