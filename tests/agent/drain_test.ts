/**
 * `drain` / `undrain` against the running agent through DATA_DIR/control: a draining node refuses new jobs
 * ("draining"), says so in /readyz, presence, /status.json and the status page (in Chromium), stays drained across a restart, and takes jobs again after
 * `undrain`; with no agent running, `drain` says so and exits 1.
 */
import assert from "node:assert/strict";
import { AgentProcess } from "../support/agent_process.ts";
import { chromiumMissing, dumpDom, parseDom } from "../support/browser.ts";
import { dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { httpGet, StatusWatch, waitUntil } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());
const browser = ready && serviceAvailable("chromium", chromiumMissing());
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

async function cli(env: Record<string, string>, command: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, command],
    env: { ...env, LOG_FORMAT: "json" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "drain refuses new jobs (readyz, presence), survives a restart, undrain resumes; no agent: exit 1",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start({ agentKeyIndex: 9 });
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-drain-" });
    try {
      const env = net.agentEnv(dataDir, { JOB_INTAKE: "core" });
      await using watch = await StatusWatch.open(net.nats.url);
      await using beacons = await StatusWatch.open(net.nats.url, `agent.heartbeat.${net.agentAddress}`);
      const job = (id: string) => ({ job_id: id, image_name: net.image, command: ["sh", "-c", "echo hi > /output/r"] });
      {
        await using agent = AgentProcess.start({ env });
        await agent.ready();
        await waitUntil(async () => (await httpGet(env.HTTP_ADDR, "/readyz")).status === 200, 30_000, "ready");
        const drained = await cli(env, "drain");
        assert.equal(drained.code, 0, drained.stderr);
        assert.match(
          drained.stdout,
          /^draining: the agent \(pid \d+\) takes no new job; 0 running and 0 queued will finish/,
        );
        const readyz = await httpGet(env.HTTP_ADDR, "/readyz");
        assert.equal(readyz.status, 503);
        assert.match(JSON.parse(readyz.text).components.intake.detail, /^draining/);
        await beacons.waitFor((p) => p.draining === true, 10_000);
        await watch.dispatch(net.agentAddress, job("while-draining"));
        const refused = await watch.terminal("while-draining", 30_000);
        assert.deepEqual([refused.status, refused.reason, refused.message], ["failed", "rejected", "draining"]);
        const status = JSON.parse((await httpGet(env.HTTP_ADDR, "/status.json")).text);
        assert.equal(status.phase, "draining");
        assert.equal(status.node.address, net.agentAddress);
        assert.equal(status.node.registered, true);
        assert.deepEqual(status.jobs.recent, [], "a job refused while draining is answered, not journaled");
        if (browser) {
          const page = parseDom(await dumpDom(`http://${env.HTTP_ADDR}/`));
          assert.equal(page.getElementById("phase")?.textContent, "draining");
          assert.equal(page.getElementById("node-address")?.textContent, net.agentAddress);
        }
        agent.signal("SIGTERM");
        assert.equal((await agent.exit()).code, 0, agent.tail());
      }
      const none = await cli(env, "undrain");
      assert.equal(none.code, 1, "no agent runs: nobody confirms");
      assert.match(none.stderr, /no running agent with DATA_DIR=.* confirmed within 10 s; the request is withdrawn/);
      // Drained again while stopped: the request waits for the next start.
      assert.equal((await cli(env, "drain")).code, 1);
      await using agent = AgentProcess.start({ env });
      await agent.ready();
      await agent.waitFor((r) => r.msg === "Draining: finishing held jobs, taking no new ones", 30_000, "the drain");
      await watch.dispatch(net.agentAddress, job("after-restart"));
      assert.equal((await watch.terminal("after-restart", 30_000)).message, "draining");
      const undrained = await cli(env, "undrain");
      assert.equal(undrained.code, 0, undrained.stderr);
      assert.match(undrained.stdout, /^taking jobs again/);
      await watch.dispatch(net.agentAddress, job("after-undrain"));
      const done = await watch.terminal("after-undrain", 60_000);
      assert.equal(done.status, "completed");
      const serving = JSON.parse((await httpGet(env.HTTP_ADDR, "/status.json")).text);
      assert.equal(serving.phase, "serving");
      const [last] = serving.jobs.recent;
      assert.deepEqual([last.job_id, last.state, last.output_cid], ["after-undrain", "completed", done.output_cid]);
      assert.ok(last.duration_s > 0 && last.duration_s < 60, `duration ${last.duration_s}`);
      if (browser) {
        const page = parseDom(await dumpDom(`http://${env.HTTP_ADDR}/`));
        assert.equal(page.getElementById("phase")?.textContent, "serving");
        assert.match(page.getElementById("recent")?.textContent ?? "", /after-undrain\s*completed/);
      }
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
