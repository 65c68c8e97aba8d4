/**
 * The sandbox proof: the end-to-end job runs with the agent under `deno run` with exactly the permission set derived
 * for its configuration (no -A), and Deno's permission audit shows no check outside that set during the whole run.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/mod.ts";
import { auditViolations, parseAuditLog, permissionFlags } from "../../src/permissions/mod.ts";
import { verifyReceipt } from "../../src/agent/receipt.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, StatusWatch } from "../agent/helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

Deno.test({
  name: "the end-to-end job completes under exactly the derived permission set, and the audit shows nothing outside it",
  ignore: !ready,
  async fn() {
    // A key no other suite uses: an agent removes its address's containers that its own journal does not know.
    await using net = await LocalNetwork.start({ agentKeyIndex: 4 });
    const cwd = await Deno.makeTempDir({ prefix: "lamda-sandbox-" });
    try {
      const dataDir = `${cwd}/data`;
      const env = net.agentEnv(dataDir);
      const derived = permissionFlags(loadConfig({ env }).config, { envFile: ".env", cwd });
      assert.ok(!derived.flags.some((f) => f === "-A" || f === "--allow-all"), derived.flags.join(" "));
      assert.ok(derived.flags.every((f) => !/^--allow-[a-z]+$/.test(f)), `no unscoped grant: ${derived.flags}`);
      const audit = `${cwd}/audit.jsonl`;

      await using agent = AgentProcess.start({
        env,
        cwd,
        permissions: ["--config", `${ROOT}/deno.json`, "--no-prompt", ...derived.flags],
        denoEnv: { DENO_AUDIT_PERMISSIONS: audit },
      });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const input = await net.addFile("data.txt", "sandboxed\n");
      await watch.dispatch(net.agentAddress, { job_id: "sandbox-1", image_name: net.image, input_file_cid: input });
      const done = await watch.terminal("sandbox-1");
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.ok(verifyReceipt(done.receipt, net.agentAddress).valid, "the receipt verifies");
      assert.deepEqual(await jobContainers(DOCKER_HOST, "sandbox-1"), []);

      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
      const denied = agent.lines.filter((l) => /NotCapable|Requires \w+ access|permission denied/i.test(l));
      assert.deepEqual(denied, [], "no permission error during the run");

      const entries = parseAuditLog(await Deno.readTextFile(audit));
      for (const kind of ["read", "write", "net", "env"]) {
        assert.ok(entries.some((e) => e.permission === kind), `the audit recorded ${kind} checks`);
      }
      assert.ok(entries.some((e) => e.permission === "net" && e.value === `unix:${DOCKER_HOST.slice(7)}`));
      assert.deepEqual(auditViolations(entries, derived, { cwd }), []);
    } finally {
      await Deno.remove(cwd, { recursive: true }).catch(() => {});
    }
  },
});
