/**
 * The status page in a real headless browser (Debian's Chromium): the DOM after the page's script ran shows the node,
 * its GPUs, running and recent jobs; it refreshes itself from /status.json; strings from the network stay text; it
 * loads nothing from outside; a screenshot renders. `STATUS_PAGE_SCREENSHOT=docs/status-page.png` writes the
 * screenshot the README shows.
 */
import assert from "node:assert/strict";
import { startHttpServer } from "../../src/agent/http.ts";
import { AgentMetrics } from "../../src/agent/metrics.ts";
import type { NodeStatus } from "../../src/agent/node_status.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { VERSION } from "../../src/version.ts";
import { chromiumMissing, dumpDom, parseDom, pngSize, screenshot } from "../support/browser.ts";
import { serviceAvailable } from "../support/service.ts";

const HAVE_CHROMIUM = serviceAvailable("chromium", chromiumMissing());
const ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const HOSTILE = `<img src=x onerror="document.title='pwned'"></td><script>document.title='pwned'</script>`;

/** A node mid-work: two GPUs (one unhealthy), a job uploading, a completed and a failed job. */
function busyStatus(overrides: Partial<NodeStatus> = {}): NodeStatus {
  const now = Date.parse("2026-12-02T12:00:00Z");
  const at = (s: number) => new Date(now - s * 1000).toISOString();
  return {
    version: VERSION,
    generated_at: at(0),
    started_at: at(3600),
    phase: "serving",
    phase_detail: null,
    node: {
      address: ADDRESS,
      chain_id: 5611,
      registered: true,
      last_heartbeat_at: at(42),
      heartbeat_age_s: 42,
      heartbeats_sent: 17,
      heartbeat_failures: 1,
      balance_wei: "1234500000000000000",
      balance_bnb: "1.2345",
      heartbeats_left: 4321,
    },
    nats: { connected: true, servers: "nats://127.0.0.1:4222", intake: "jetstream" },
    slots: { max_concurrent: 2, running: 1, queued: 0, free: 1 },
    gpus: [
      {
        id: "GPU-11111111-2222-3333-4444-555555555555",
        index: 0,
        name: "NVIDIA H200",
        memory_mib: 143771,
        healthy: true,
        conditions: [],
        temperature_c: 54,
        utilization_pct: 87,
        job_id: "job-uploading",
      },
      {
        id: "GPU-66666666-7777-8888-9999-000000000000",
        index: 1,
        name: "NVIDIA H200",
        memory_mib: 143771,
        healthy: false,
        conditions: ["xid_fatal"],
        temperature_c: 91,
        utilization_pct: 0,
        job_id: null,
      },
    ],
    jobs: {
      active: [{
        job_id: "job-uploading",
        attempt: 1,
        image: "ghcr.io/lamda/llm@sha256:" + "a".repeat(64),
        stage: "uploading",
        received_at: at(120),
        started_at: at(110),
        gpus: ["GPU-11111111-2222-3333-4444-555555555555"],
        progress: { uploading: { done_bytes: 3 * 1024 * 1024, total_bytes: 12 * 1024 * 1024 } },
      }],
      recent: [
        {
          job_id: "job-done",
          state: "completed",
          reason: null,
          received_at: at(600),
          finished_at: at(540),
          duration_s: 60,
          output_cid: "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        },
        {
          job_id: "job-oom",
          state: "failed",
          reason: "oom_killed",
          received_at: at(900),
          finished_at: at(890),
          duration_s: 10.5,
          output_cid: null,
        },
      ],
    },
    readiness: { nats: { ready: true }, chain: { ready: true }, docker: { ready: true } },
    ...overrides,
  };
}

async function serve(status: () => NodeStatus) {
  return await startHttpServer({
    addr: "127.0.0.1:0",
    metrics: new AgentMetrics(),
    readiness: () => ({}),
    status,
    logger: new Logger({ writer: new MemoryWriter() }),
  });
}

const text = (doc: ReturnType<typeof parseDom>, id: string) => doc.getElementById(id)?.textContent?.trim() ?? "";
const rows = (doc: ReturnType<typeof parseDom>, id: string) =>
  [...doc.querySelectorAll(`#${id} tr`)].map((tr) =>
    [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "")
  );

Deno.test({
  name: "status page: Chromium renders the node, its GPUs, running and recent jobs, and the version",
  ignore: !HAVE_CHROMIUM,
  async fn() {
    await using server = await serve(() => busyStatus());
    const doc = parseDom(await dumpDom(`http://${server.addr}/`));
    assert.equal(text(doc, "node-address"), ADDRESS);
    assert.equal(text(doc, "version"), `v${VERSION}`);
    assert.equal(text(doc, "phase"), "serving");
    assert.equal(text(doc, "node-registered"), "registered");
    assert.match(text(doc, "node-heartbeat"), /^2026-12-02 11:59:18Z \(42 s ago\)$/);
    assert.equal(text(doc, "node-balance"), "1.2345 BNB");
    assert.equal(text(doc, "node-heartbeats-left"), "4321");
    assert.equal(text(doc, "nats-state"), "connected");
    assert.equal(text(doc, "slots"), "1 running of 2, 0 queued, 1 free");

    const gpus = rows(doc, "gpus");
    assert.equal(gpus.length, 2);
    assert.deepEqual(gpus[0].slice(0, 2), ["0", "NVIDIA H200"]);
    assert.equal(gpus[0][4], "healthy");
    assert.equal(gpus[0][6], "54 °C");
    assert.equal(gpus[0][7], "87 %");
    assert.equal(gpus[0][8], "job-uploading");
    assert.deepEqual([gpus[1][4], gpus[1][5], gpus[1][8]], ["unhealthy", "xid_fatal", "—"]);

    const active = rows(doc, "active");
    assert.equal(active.length, 1);
    assert.equal(active[0][0], "job-uploading");
    assert.equal(active[0][3], "uploading");
    assert.equal(active[0][4], "uploading: 3.0 MiB / 12.0 MiB (25%)");
    const bar = doc.querySelector('#active [data-stage="uploading"] progress');
    assert.equal(bar?.getAttribute("max"), "12582912");
    assert.equal(bar?.getAttribute("value"), "3145728");

    const recent = rows(doc, "recent");
    assert.deepEqual(recent.map((r) => [r[0], r[1], r[2], r[4]]), [
      ["job-done", "completed", "—", "1 min 0 s"],
      ["job-oom", "failed", "oom_killed", "11 s"],
    ]);
    assert.equal(recent[0][5], "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi");
    assert.match(doc.title, /^Lamda node 0x70997970… — serving$/);
  },
});

Deno.test({
  name: "status page: refreshes itself from /status.json (draining shows) and says when the agent is unreachable",
  ignore: !HAVE_CHROMIUM,
  async fn() {
    let calls = 0;
    const status = () => {
      calls++;
      if (calls === 1) return busyStatus();
      return busyStatus({
        phase: "draining",
        jobs: { active: [], recent: busyStatus().jobs.recent },
        slots: { max_concurrent: 2, running: 0, queued: 0, free: 2 },
      });
    };
    await using server = await serve(status);
    // The first render is the embedded snapshot; a refresh 2 s later (virtual time) fetches the draining one.
    const doc = parseDom(await dumpDom(`http://${server.addr}/`, { virtualTimeMs: 3000 }));
    assert.ok(calls >= 2, `the page fetched /status.json (${calls} status calls)`);
    assert.equal(text(doc, "phase"), "draining");
    assert.deepEqual(rows(doc, "active"), [["no running jobs"]]);
    assert.equal(doc.getElementById("banner")?.getAttribute("hidden"), "");

    // An agent that answers the page but then fails /status.json: the banner says so and the data stays.
    let served = false;
    await using flaky = await startHttpServer({
      addr: "127.0.0.1:0",
      metrics: new AgentMetrics(),
      readiness: () => ({}),
      status: () => {
        if (served) throw new Error("agent gone");
        served = true;
        return busyStatus();
      },
      logger: new Logger({ writer: new MemoryWriter() }),
    });
    const gone = parseDom(await dumpDom(`http://${flaky.addr}/`, { virtualTimeMs: 3000 }));
    assert.equal(gone.getElementById("banner")?.getAttribute("hidden"), null, "the banner shows");
    assert.match(text(gone, "banner"), /^Agent unreachable \(HTTP 500\); showing data from 2026-12-02 12:00:00Z\.$/);
    assert.equal(text(gone, "node-address"), ADDRESS);
  },
});

Deno.test({
  name: "status page: job ids, images and reasons from the network are shown as text, never run",
  ignore: !HAVE_CHROMIUM,
  async fn() {
    const base = busyStatus();
    const status = busyStatus({
      jobs: {
        active: [{ ...base.jobs.active[0], job_id: HOSTILE, image: HOSTILE }],
        recent: [{ ...base.jobs.recent[1], job_id: `</script>${HOSTILE}`, reason: HOSTILE }],
      },
    });
    await using server = await serve(() => status);
    const res = await fetch(`http://${server.addr}/`);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    const html = await res.text();
    assert.equal(html.includes("<img"), false, "no markup from the status document in the served HTML");
    assert.equal(/(src|href)=["']?(https?:)?\/\//.test(html), false, "no external assets");

    const doc = parseDom(await dumpDom(`http://${server.addr}/`));
    assert.match(doc.title, /^Lamda node/, "no injected script ran");
    assert.equal(doc.querySelectorAll("img").length, 0, "no injected element");
    assert.equal(rows(doc, "active")[0][0], HOSTILE);
    assert.equal(rows(doc, "active")[0][2], HOSTILE);
    assert.deepEqual(rows(doc, "recent")[0].slice(0, 3), [`</script>${HOSTILE}`, "failed", HOSTILE]);
  },
});

Deno.test({
  name: "status page: Chromium takes a screenshot of it (the README's picture)",
  ignore: !HAVE_CHROMIUM,
  async fn() {
    await using server = await serve(() => busyStatus());
    const out = Deno.env.get("STATUS_PAGE_SCREENSHOT") ?? await Deno.makeTempFile({ suffix: ".png" });
    await screenshot(`http://${server.addr}/`, out, { width: 1280, height: 900 });
    const png = await Deno.readFile(out);
    assert.deepEqual(pngSize(png), { width: 1280, height: 900 });
    assert.ok(png.length > 10_000, `a rendered page, not a blank image (${png.length} bytes)`);
    if (!Deno.env.get("STATUS_PAGE_SCREENSHOT")) await Deno.remove(out);
  },
});

Deno.test("status page: /status.json serves the document, uncached; without a status source / is 404", async () => {
  await using server = await serve(() => busyStatus());
  const res = await fetch(`http://${server.addr}/status.json`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), busyStatus());
  await using bare = await startHttpServer({
    addr: "127.0.0.1:0",
    metrics: new AgentMetrics(),
    readiness: () => ({}),
    logger: new Logger({ writer: new MemoryWriter() }),
  });
  for (const path of ["/", "/status.json"]) {
    const r = await fetch(`http://${bare.addr}${path}`);
    assert.equal(r.status, 404, path);
    await r.body?.cancel();
  }
});
