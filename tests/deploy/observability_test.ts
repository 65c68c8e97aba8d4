/**
 * deploy/: the Prometheus alert rules pass `promtool check rules` and their own `promtool test rules` cases, and the
 * rules and the Grafana dashboard name only metrics the agent exports (a renamed metric breaks this test, not the
 * operator's alerting).
 */
import assert from "node:assert/strict";
import { AgentMetrics } from "../../src/agent/metrics.ts";
import { serviceAvailable, which } from "../support/service.ts";

const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;
const RULES = `${DEPLOY}prometheus/alerts.yml`;
const RULE_TESTS = `${DEPLOY}prometheus/alerts_test.yml`;
const DASHBOARD = `${DEPLOY}grafana/lamda-node-agent.json`;

const promtool = serviceAvailable(
  "promtool",
  which("promtool") ? undefined : "promtool is not installed (apt-get install -y prometheus)",
);

/** Every metric name the agent's /metrics can carry (histograms with their series suffixes). */
async function exported(): Promise<Set<string>> {
  const metrics = new AgentMetrics();
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === "histogram") { for (const s of ["_bucket", "_sum", "_count"]) names.add(m.name + s); }
  }
  return names;
}

function named(text: string): string[] {
  return [...new Set(text.match(/\blamda_[a-z0-9_]+/g) ?? [])].sort();
}

Deno.test("the alert rules and the dashboard use only metrics the agent exports", async () => {
  const have = await exported();
  const rules = named(await Deno.readTextFile(RULES));
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD)) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const panels = named(exprs.join("\n"));
  assert.ok(rules.length >= 6 && panels.length >= 15, `rules name ${rules.length}, the dashboard ${panels.length}`);
  assert.deepEqual(rules.filter((n) => !have.has(n)), [], "alert rules name metrics the agent does not export");
  assert.deepEqual(panels.filter((n) => !have.has(n)), [], "the dashboard names metrics the agent does not export");
  for (const p of dashboard.panels) assert.ok(p.targets.length > 0, `panel ${p.title} has a query`);
  // The operator's first questions each have an alert.
  const alerts = [...(await Deno.readTextFile(RULES)).matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
  assert.deepEqual(alerts, [
    "LamdaAgentDown",
    "LamdaNodeNotHeartbeating",
    "LamdaWalletLow",
    "LamdaJobFailureRateHigh",
    "LamdaGpuUnhealthy",
    "LamdaDockerDiskPressure",
    "LamdaNatsDisconnected",
  ]);
});

Deno.test({
  name: "promtool accepts the rules and their unit tests fire each alert when it should and not before",
  ignore: !promtool,
  async fn() {
    for (const args of [["check", "rules", RULES], ["test", "rules", RULE_TESTS]]) {
      const out = await new Deno.Command("promtool", {
        args,
        cwd: `${DEPLOY}prometheus`,
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `promtool ${args.join(" ")}:\n${text}`);
      assert.match(text, /SUCCESS/);
    }
  },
});
