/** A killed agent leaves its container behind: the next start removes the labelled orphan or re-attaches to it. */
import assert from "node:assert/strict";
import { containerName } from "../../src/docker/mod.ts";
import { stopChild } from "../support/service.ts";
import { containerExists, DOCKER_HOST, dockerReady, randomAddress, testEngine } from "./support/harness.ts";

const ready = await dockerReady();
const CHILD = new URL("./support/agent_child.ts", import.meta.url).pathname;

/** Starts a stand-in agent running one job, waits for the job's output, then kills the agent with SIGKILL. */
async function killAgentMidJob(address: string, jobId: string, image: string, script: string, outputDir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, DOCKER_HOST, address, jobId, image, script, outputDir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
    while (!seen.includes("RUNNING")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    clearTimeout(deadline);
    reader.releaseLock();
    assert.ok(seen.includes("RUNNING"), "the child agent started its job");
  } finally {
    await stopChild(child, "SIGKILL", 1000);
    await child.stdout.cancel().catch(() => {});
  }
}

Deno.test({
  name:
    "after the agent is killed mid-job, a new start removes the labelled orphan and leaves an unlabelled container alone",
  ignore: !ready,
  async fn() {
    const address = randomAddress();
    await using t = await testEngine({ agentAddress: address });
    const unlabelled = `lamda-test-unlabelled-${crypto.randomUUID().slice(0, 8)}`;
    await t.engine.client.json("POST", "/containers/create", {
      query: { name: unlabelled },
      body: { Image: t.image, Cmd: ["sleep", "3600"], HostConfig: { NetworkMode: "none" } },
    });
    try {
      await t.engine.client.send("POST", `/containers/${unlabelled}/start`);
      await killAgentMidJob(address, "orphan-job", t.image, "echo started; exec busybox sleep 3600", t.outputDir);
      const orphan = containerName("orphan-job", 1);
      assert.equal(await containerExists(t.engine, orphan), true, "the killed agent left its container running");
      const listed = await t.engine.listJobContainers();
      assert.deepEqual(listed.map((c) => [c.name, c.state]), [[orphan, "running"]]);
      // The journal knows other jobs, not this one.
      const removed = await t.engine.removeOrphans(["some-other-job"]);
      assert.deepEqual(removed, [orphan]);
      assert.equal(await containerExists(t.engine, orphan), false);
      assert.equal(await containerExists(t.engine, unlabelled), true, "unlabelled container untouched");
    } finally {
      await t.engine.client.send("DELETE", `/containers/${unlabelled}`, { query: { force: true }, okStatuses: [404] });
    }
  },
});

Deno.test({
  name: "after the agent is killed mid-job, resume re-attaches to the running container and reports its end",
  ignore: !ready,
  async fn() {
    const address = randomAddress();
    await using t = await testEngine({ agentAddress: address });
    await killAgentMidJob(
      address,
      "resume-job",
      t.image,
      "echo started; busybox sleep 2; echo finished; exit 0",
      t.outputDir,
    );
    const lines: string[] = [];
    const outcome = await t.engine.resume("resume-job", { onLine: (_s, l) => lines.push(l) });
    assert.ok(outcome?.ok, JSON.stringify(outcome));
    assert.ok(lines.includes("finished"), lines.join("|"));
    assert.equal(await containerExists(t.engine, containerName("resume-job", 1)), false);
    assert.equal(await t.engine.resume("resume-job"), undefined, "nothing left to resume");
  },
});
