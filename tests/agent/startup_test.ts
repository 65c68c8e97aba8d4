/**
 * Start-up while a dependency is unreachable: every retry is logged with its cause, /healthz answers and /readyz names
 * the step it waits on from the start, no heartbeat goes out before jobs can reach the node, and the first SIGTERM
 * stops the process promptly at any step.
 */
import assert from "node:assert/strict";
import { AgentProcess } from "../support/agent_process.ts";
import { dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { freePort } from "../support/ports.ts";
import { serviceAvailable } from "../support/service.ts";
import { httpGet, waitUntil } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

Deno.test({
  name: "NATS unreachable at start-up: retries logged with the cause, /readyz 503 names NATS, no heartbeat, then ready",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start({ agentKeyIndex: 6 });
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    try {
      const natsPort = freePort();
      const env = net.agentEnv(dataDir, { NATS_URL: `nats://127.0.0.1:${natsPort}` });
      await using agent = AgentProcess.start({ env });
      const retry = (r: Record<string, unknown>) => typeof r.msg === "string" && r.msg.startsWith("NATS not reachable");
      await agent.waitFor(retry, 60_000, "a NATS retry line");
      await waitUntil(() => agent.records().filter(retry).length >= 2, 30_000, "a second NATS retry line");
      const first = agent.records().find(retry)!;
      assert.match(first.msg as string, new RegExp(`127\\.0\\.0\\.1:${natsPort}.*retrying in`));
      assert.ok((first.error as { message?: string })?.message, `the cause is logged: ${JSON.stringify(first)}`);

      const health = await httpGet(env.HTTP_ADDR, "/healthz");
      assert.equal(health.status, 200, "the process answers /healthz while it waits");
      const readyz = await httpGet(env.HTTP_ADDR, "/readyz");
      assert.equal(readyz.status, 503);
      const body = JSON.parse(readyz.text);
      assert.match(body.components.startup.detail, /connecting to NATS.*attempt \d+ failed/);

      const chainLines = agent.records().filter((r) => r.component === "chain" || /heartbeat/i.test(String(r.msg)));
      assert.deepEqual(chainLines, [], "no registration or heartbeat before the node can take jobs");

      // Once NATS comes up the agent finishes starting without a restart.
      const { NatsServer } = await import("../support/nats_server.ts");
      await using nats = await NatsServer.start({ port: natsPort });
      await agent.ready(60_000);
      await agent.waitFor((r) => r.msg === "Heartbeat mined", 30_000, "the first heartbeat, after NATS");
      assert.equal((await httpGet(env.HTTP_ADDR, "/readyz")).status, 200);
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
      void nats;
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

for (
  const [what, step, retryLine, broken] of [
    ["NATS", "connecting to NATS", "NATS not reachable", (port: number) => ({ NATS_URL: `nats://127.0.0.1:${port}` })],
    [
      "the chain's RPC",
      "registering on NodeReputation",
      "Chain not reachable",
      (port: number) => ({ OPBNB_RPC_URL: `http://127.0.0.1:${port}` }),
    ],
  ] as const
) {
  Deno.test({
    name: `the first SIGTERM while start-up waits for ${what} stops the agent within seconds, exit 0`,
    ignore: !ready,
    async fn() {
      await using net = await LocalNetwork.start({ agentKeyIndex: 6 });
      const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
      try {
        const env = net.agentEnv(dataDir, broken(freePort()));
        await using agent = AgentProcess.start({ env });
        await agent.waitFor((r) => String(r.msg).startsWith(`start-up: ${step}`), 60_000, `start-up: ${step}`);
        await agent.waitFor((r) => String(r.msg).startsWith(retryLine), 30_000, `${retryLine}; retrying …`);
        const t0 = Date.now();
        agent.signal("SIGTERM");
        const status = await agent.exit();
        const ms = Date.now() - t0;
        assert.equal(status.code, 0, agent.tail());
        assert.ok(ms < 5000, `stopped ${ms} ms after the signal`);
        assert.ok(
          agent.records().some((r) => String(r.msg).startsWith(`start-up interrupted by a signal while ${step}`)),
          agent.tail(),
        );
      } finally {
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      }
    },
  });
}
