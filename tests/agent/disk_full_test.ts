/**
 * A full DATA_DIR (a small tmpfs, filled up): the job that meets it ends failed/disk_full, the agent keeps serving, and
 * once space is back the next job completes; what was journaled before is still there.
 */
import assert from "node:assert/strict";
import { JobJournal } from "../../src/job/mod.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { StatusWatch } from "./helpers.ts";

/** Why a small tmpfs cannot be mounted here (mounting needs root), or undefined. */
async function tmpfsMissing(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "lamda-tmpfs-probe-" });
  try {
    const out = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir],
      stderr: "piped",
    })
      .output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
    if (!out.success) return `cannot mount a tmpfs (needs root): ${new TextDecoder().decode(out.stderr).trim()}`;
    await new Deno.Command("umount", { args: [dir] }).output();
    return undefined;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing()) &&
  serviceAvailable("tmpfs", await tmpfsMissing());

/** Writes zeros into `path` until the file system refuses; returns the bytes written. */
async function fill(path: string): Promise<number> {
  using f = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024);
  let total = 0;
  try {
    for (;;) total += await f.write(chunk);
  } catch (error) {
    if (!/No space left|os error 28/.test(String(error))) throw error;
  }
  // Then byte by byte, so not even a small block is left.
  try {
    for (;;) total += await f.write(new Uint8Array(1));
  } catch { /* full */ }
  return total;
}

Deno.test({
  name:
    "a full DATA_DIR: failed/disk_full for the job that meets it, the agent keeps serving, nothing journaled is lost",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start({ agentKeyIndex: 7 });
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-full-" });
    const mounted = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=16m", "tmpfs", dataDir] })
      .output();
    assert.ok(mounted.success, "tmpfs mounted");
    try {
      await using agent = AgentProcess.start({ env: net.agentEnv(dataDir, { JOB_INTAKE: "core" }) });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const job = (id: string) => ({
        job_id: id,
        image_name: net.image,
        command: ["sh", "-c", `echo ${id} > /output/r.txt`],
      });
      await watch.dispatch(net.agentAddress, job("before-full"));
      assert.equal((await watch.terminal("before-full")).status, "completed");

      const filler = `${dataDir}/filler.bin`;
      const bytes = await fill(filler);
      assert.ok(bytes > 1024 * 1024, `the tmpfs was filled (${bytes} bytes)`);
      await watch.dispatch(net.agentAddress, job("when-full"));
      const full = await watch.terminal("when-full", 60_000);
      assert.deepEqual([full.status, full.reason], ["failed", "disk_full"], JSON.stringify(full));
      assert.match(String(full.message), /disk is full/i);

      await Deno.remove(filler);
      await watch.dispatch(net.agentAddress, job("after-full"));
      const after = await watch.terminal("after-full", 60_000);
      assert.equal(after.status, "completed", `the agent kept serving: ${JSON.stringify(after)}`);

      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
      assert.ok(!agent.lines.some((l) => /Uncaught|unhandled/i.test(l)), "no unhandled rejection");
      using journal = JobJournal.open(JobJournal.pathIn(dataDir));
      const state = (id: string) => journal.get(id)?.state;
      assert.equal(state("before-full"), "completed", "the job journaled before the disk filled is still there");
      assert.equal(state("after-full"), "completed");
    } finally {
      await new Deno.Command("umount", { args: ["-l", dataDir] }).output();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
