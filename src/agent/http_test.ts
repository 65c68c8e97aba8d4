import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Logger, MemoryWriter } from "../log/mod.ts";
import { parseHostPort } from "../config/mod.ts";
import { type Readiness, startHttpServer } from "./http.ts";
import { AgentMetrics } from "./metrics.ts";

type Family = { name: string; type: string; metrics: { value?: string; labels?: Record<string, string> }[] };

Deno.test("/metrics parses as Prometheus text and moves as jobs finish; /readyz follows readiness", async () => {
  const metrics = new AgentMetrics();
  let running = 2;
  metrics.observe({
    runningJobs: () => running,
    freeSlots: () => 4 - running,
    natsConnected: () => true,
    walletBalanceWei: () => 1_500_000_000_000_000_000n,
    gpus: () => [{ uuid: "GPU-a", temperatureC: 61, utilizationPct: 50 }],
  });
  let readiness: Readiness = { nats: { ready: true }, chain: { ready: false, detail: "registering" } };
  await using server = await startHttpServer({
    addr: "127.0.0.1:0",
    metrics,
    readiness: () => readiness,
    logger: new Logger({ writer: new MemoryWriter() }),
  });
  const base = `http://${server.addr}`;
  const scrape = async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
    const families = parsePrometheusTextFormat(await res.text()) as Family[];
    return (name: string) => families.find((f) => f.name === name);
  };

  let m = await scrape();
  assert.equal(m("lamda_jobs_running")?.metrics[0].value, "2");
  assert.equal(m("lamda_slots_free")?.metrics[0].value, "2");
  assert.equal(m("lamda_wallet_balance_bnb")?.metrics[0].value, "1.5");
  assert.deepEqual(m("lamda_gpu_utilization_ratio")?.metrics[0], { value: "0.5", labels: { uuid: "GPU-a" } });
  assert.equal(m("lamda_jobs_total")?.metrics.length ?? 0, 0);

  metrics.jobFinished("completed", undefined, 12);
  metrics.jobFinished("failed", "timeout", 3);
  metrics.transfer("upload", 1024, 0.5);
  running = 0;
  m = await scrape();
  const jobs = m("lamda_jobs_total")!;
  assert.equal(jobs.type, "COUNTER");
  assert.deepEqual(
    jobs.metrics.map((x) => [x.labels?.status, x.labels?.reason, x.value]).sort(),
    [["completed", "", "1"], ["failed", "timeout", "1"]],
  );
  assert.equal(m("lamda_job_duration_seconds")?.type, "HISTOGRAM");
  assert.equal(m("lamda_jobs_running")?.metrics[0].value, "0");
  assert.equal(m("lamda_transfer_bytes_total")?.metrics[0].value, "1024");

  let res = await fetch(`${base}/readyz`);
  assert.equal(res.status, 503);
  assert.equal((await res.json()).components.chain.detail, "registering");
  readiness = { nats: { ready: true }, chain: { ready: true } };
  res = await fetch(`${base}/readyz`);
  assert.equal(res.status, 200);
  await res.body?.cancel();
  res = await fetch(`${base}/healthz`);
  assert.equal(res.status, 200);
  await res.body?.cancel();
  res = await fetch(`${base}/nope`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

Deno.test("HTTP_ADDR forms are parsed, bad ones rejected with the value named", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:9464"), { hostname: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseHostPort("[::1]:9464"), { hostname: "::1", port: 9464 });
  assert.deepEqual(parseHostPort(":9464"), { hostname: "0.0.0.0", port: 9464 });
  assert.throws(() => parseHostPort("9464"), /Cannot parse HTTP address "9464"/);
  assert.throws(() => parseHostPort("host:99999"), /Cannot parse/);
});
