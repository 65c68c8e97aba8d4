/** The operator endpoint on a real local network: /metrics (real Prometheus text parser) moves as jobs run; /readyz follows NATS. */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { AgentProcess } from "../support/agent_process.ts";
import { dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { httpGet, StatusWatch, waitUntil } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; buckets?: Record<string, string>; labels?: Record<string, string> }[];
}

/** Fetches /metrics and parses it with a real Prometheus text-format parser. */
async function scrape(addr: string): Promise<Map<string, Family>> {
  const res = await httpGet(addr, "/metrics");
  assert.equal(res.status, 200);
  const families = parsePrometheusTextFormat(res.text) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

/** Sum of a family's samples whose labels include `labels`. */
function total(m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = m.get(name);
  if (!f) return 0;
  return f.metrics
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))
    .reduce((sum, s) => sum + Number(s.value ?? 0), 0);
}

async function runJob(net: LocalNetwork, watch: StatusWatch, jobId: string): Promise<void> {
  const input = await net.addFile("in.txt", `metrics ${jobId}\n`);
  await watch.dispatch(net.agentAddress, { job_id: jobId, image_name: net.image, input_file_cid: input });
  const done = await watch.terminal(jobId);
  assert.equal(done.status, "completed", JSON.stringify(done));
}

Deno.test({
  name: "/metrics parses as Prometheus text and moves as jobs run; /readyz is 503 while NATS is down and 200 after",
  ignore: !ready,
  async fn() {
    // A key no other suite uses: an agent removes its address's containers that its own journal does not know.
    await using net = await LocalNetwork.start({ agentKeyIndex: 4 });
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    try {
      const env = net.agentEnv(dataDir, { MAX_CONCURRENT_JOBS: "4" });
      const addr = env.HTTP_ADDR;
      await using agent = AgentProcess.start({ env });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);

      assert.equal((await httpGet(addr, "/healthz")).status, 200);
      const before = await scrape(addr);
      for (const name of ["lamda_jobs_total", "lamda_job_duration_seconds", "lamda_jobs_running", "lamda_slots_free"]) {
        assert.ok(before.has(name), `${name} is exported`);
      }
      assert.equal(before.get("lamda_jobs_total")!.type, "COUNTER");
      assert.equal(before.get("lamda_job_duration_seconds")!.type, "HISTOGRAM");
      assert.equal(total(before, "lamda_jobs_total", { status: "completed" }), 0);
      assert.equal(total(before, "lamda_slots_free"), 4);
      assert.equal(total(before, "lamda_nats_connected"), 1);

      await runJob(net, watch, "metrics-1");
      await runJob(net, watch, "metrics-2");
      const after = await scrape(addr);
      assert.equal(total(after, "lamda_jobs_total", { status: "completed" }), 2);
      assert.equal(total(after, "lamda_jobs_total", { status: "failed" }), 0);
      // This parser folds a labelled histogram into one bucket map (by `le`); only completed jobs have run so far.
      const hist = after.get("lamda_job_duration_seconds")!.metrics;
      assert.equal(hist.at(-1)?.buckets?.["+Inf"], "2", `histogram +Inf bucket: ${JSON.stringify(hist)}`);
      assert.ok(total(after, "lamda_transfer_bytes_total", { kind: "upload" }) > 0, "upload bytes counted");
      assert.ok(total(after, "lamda_transfer_bytes_total", { kind: "download" }) > 0, "download bytes counted");
      assert.equal(total(after, "lamda_jobs_running"), 0);
      assert.equal(total(after, "lamda_slots_free"), 4);

      await waitUntil(async () => (await httpGet(addr, "/readyz")).status === 200, 30_000, "/readyz 200");
      await net.nats.stop();
      await waitUntil(async () => (await httpGet(addr, "/readyz")).status === 503, 30_000, "/readyz 503");
      const down = await httpGet(addr, "/readyz");
      assert.equal(JSON.parse(down.text).components.nats.ready, false, down.text);
      assert.equal(total(await scrape(addr), "lamda_nats_connected"), 0);
      assert.equal((await httpGet(addr, "/healthz")).status, 200, "alive while not ready");

      await net.nats.start();
      await waitUntil(async () => (await httpGet(addr, "/readyz")).status === 200, 60_000, "/readyz 200 again");
      assert.equal(total(await scrape(addr), "lamda_nats_connected"), 1);
      await runJob(net, watch, "metrics-3");
      assert.equal(total(await scrape(addr), "lamda_jobs_total", { status: "completed" }), 3);

      // A message that never reaches the executor still counts, with its reason.
      await watch.dispatch(net.agentAddress, { job_id: "metrics-bad", image_name: "Bad Image!" });
      const bad = await watch.terminal("metrics-bad");
      assert.equal(bad.reason, "invalid_job", JSON.stringify(bad));
      const last = await scrape(addr);
      assert.equal(total(last, "lamda_jobs_total", { status: "failed", reason: "invalid_job" }), 1);
      assert.equal(total(last, "lamda_jobs_total", { status: "completed" }), 3);

      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
