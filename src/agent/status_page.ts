/**
 * The status page served on `GET /`: one self-contained HTML document (no external assets, works offline) that shows
 * the {@linkcode NodeStatus} it was rendered with and then refreshes itself from `/status.json` every 2 seconds.
 * Every value reaches the page through `textContent`, never as markup: job ids, images and reasons come from the
 * network and are shown as text. The inline script and style are allowed by hash in {@linkcode STATUS_PAGE_CSP}.
 */
import { createHash } from "node:crypto";
import type { NodeStatus } from "./node_status.ts";

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; padding: 16px 24px 32px; }
header { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; margin-bottom: 12px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 20px 0 6px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff;
  background: var(--muted); white-space: nowrap; }
.badge.serving, .badge.completed, .badge.ok { background: var(--ok); }
.badge.draining, .badge.starting, .badge.warn { background: var(--warn); }
.badge.stopping, .badge.failed, .badge.bad { background: var(--bad); }
#banner { background: var(--bad); color: #fff; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card h2 { margin-top: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
  overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 600; }
td.empty { color: var(--muted); font-style: italic; }
progress { width: 140px; vertical-align: middle; margin-right: 6px; }
`;

const SCRIPT = `
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const DASH = "\\u2014";
  const show = (v) => (v === null || v === undefined || v === "" ? DASH : String(v));
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = show(text);
    if (cls) e.className = cls;
    return e;
  };
  const set = (id, v) => { $(id).textContent = show(v); };
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  const bytes = (n) => {
    if (n === null || n === undefined) return DASH;
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  };
  const duration = (s) => {
    if (s === null || s === undefined) return DASH;
    if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.round(s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  };
  const when = (iso) => (iso ? iso.replace("T", " ").replace(/\\.\\d+Z$/, "Z") : DASH);
  const badge = (text, cls) => el("span", text, "badge " + (cls || text));
  const fill = (id, rows, columns, empty) => {
    const body = $(id);
    body.replaceChildren();
    if (rows.length === 0) {
      const td = el("td", empty, "empty");
      td.colSpan = columns;
      const tr = el("tr");
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const cells of rows) {
      const tr = el("tr");
      for (const c of cells) tr.append(c instanceof Node ? wrap(c) : el("td", c));
      body.append(tr);
    }
  };
  const wrap = (node) => {
    if (node.tagName === "TD") return node;
    const td = el("td");
    td.append(node);
    return td;
  };
  const progressCell = (job) => {
    const td = el("td");
    const stages = Object.keys(job.progress);
    if (stages.length === 0) td.textContent = DASH;
    for (const stage of stages) {
      const p = job.progress[stage];
      const line = el("div");
      line.dataset.stage = stage;
      const bar = document.createElement("progress");
      if (p.total_bytes) {
        bar.max = p.total_bytes;
        bar.value = Math.min(p.done_bytes, p.total_bytes);
      }
      const pct = p.total_bytes ? " (" + Math.floor((100 * p.done_bytes) / p.total_bytes) + "%)" : "";
      line.append(bar, el("span", stage + ": " + bytes(p.done_bytes) + " / " + bytes(p.total_bytes) + pct));
      td.append(line);
    }
    return td;
  };
  let last = null;
  const render = (s) => {
    last = s;
    document.title = "Lamda node " + (s.node.address ? s.node.address.slice(0, 10) + "\\u2026" : "") + " \\u2014 " + s.phase;
    set("version", "v" + s.version);
    $("phase").replaceChildren(badge(s.phase));
    $("phase-detail").textContent = s.phase_detail || "";
    set("generated", when(s.generated_at));
    set("node-address", s.node.address);
    set("node-chain", s.node.chain_id);
    $("node-registered").replaceChildren(s.node.registered ? badge("registered", "ok") : badge("not registered", "warn"));
    set(
      "node-heartbeat",
      s.node.last_heartbeat_at
        ? when(s.node.last_heartbeat_at) + " (" + duration(s.node.heartbeat_age_s) + " ago)"
        : "none yet",
    );
    set("node-heartbeats", s.node.heartbeats_sent + " sent, " + s.node.heartbeat_failures + " failed");
    set("node-balance", s.node.balance_bnb === null ? null : s.node.balance_bnb + " BNB");
    set("node-heartbeats-left", s.node.heartbeats_left);
    $("nats-state").replaceChildren(s.nats.connected ? badge("connected", "ok") : badge("disconnected", "bad"));
    set("nats-servers", s.nats.servers);
    set("nats-intake", s.nats.intake);
    set("slots", s.slots.running + " running of " + s.slots.max_concurrent + ", " + s.slots.queued + " queued, " +
      s.slots.free + " free");
    fill("gpus", s.gpus.map((g) => [
      show(g.index),
      g.name,
      el("td", g.id, "mono"),
      g.memory_mib === null ? DASH : bytes(g.memory_mib * 1048576),
      g.healthy === null ? "not watched" : g.healthy ? badge("healthy", "ok") : badge("unhealthy", "bad"),
      g.conditions.join(", "),
      g.temperature_c === null ? DASH : g.temperature_c + " \\u00b0C",
      g.utilization_pct === null ? DASH : g.utilization_pct + " %",
      el("td", g.job_id, "mono"),
    ]), 9, "no GPUs: CPU-only node");
    fill("active", s.jobs.active.map((j) => [
      el("td", j.job_id, "mono"),
      j.attempt,
      el("td", j.image, "mono"),
      badge(j.stage, "warn"),
      progressCell(j),
      j.gpus.join(", "),
      when(j.started_at),
    ]), 7, "no running jobs");
    fill("recent", s.jobs.recent.map((j) => [
      el("td", j.job_id, "mono"),
      badge(j.state),
      j.reason,
      when(j.received_at),
      duration(j.duration_s),
      el("td", j.output_cid, "mono"),
    ]), 6, "no jobs yet");
    fill("readiness", Object.entries(s.readiness).map(([name, c]) => [
      name,
      c.ready ? badge("ready", "ok") : badge("not ready", "bad"),
      c.detail,
    ]), 3, "no components");
  };
  const refresh = async () => {
    try {
      const res = await fetch("status.json", { cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      render(await res.json());
      $("banner").hidden = true;
    } catch (error) {
      const banner = $("banner");
      banner.textContent = "Agent unreachable (" + (error && error.message ? error.message : error) +
        "); showing data from " + (last ? when(last.generated_at) : "the first load") + ".";
      banner.hidden = false;
    }
    setTimeout(refresh, 2000);
  };
  render(JSON.parse($("initial").textContent));
  setTimeout(refresh, 2000);
})();
`;

const BODY = `
<header>
  <h1>Lamda node agent</h1>
  <span id="version" class="muted"></span>
  <span id="phase"></span>
  <span id="phase-detail" class="muted"></span>
  <span class="muted">updated <span id="generated"></span></span>
</header>
<div id="banner" role="alert" hidden></div>
<div class="cards">
  <section class="card">
    <h2>Node</h2>
    <dl>
      <dt>Address</dt><dd id="node-address" class="mono"></dd>
      <dt>Chain</dt><dd id="node-chain"></dd>
      <dt>Registration</dt><dd id="node-registered"></dd>
      <dt>Last heartbeat</dt><dd id="node-heartbeat"></dd>
      <dt>Heartbeats</dt><dd id="node-heartbeats"></dd>
      <dt>Balance</dt><dd id="node-balance"></dd>
      <dt>Heartbeats left</dt><dd id="node-heartbeats-left"></dd>
    </dl>
  </section>
  <section class="card">
    <h2>Work</h2>
    <dl>
      <dt>NATS</dt><dd id="nats-state"></dd>
      <dt>Servers</dt><dd id="nats-servers" class="mono"></dd>
      <dt>Intake</dt><dd id="nats-intake"></dd>
      <dt>Slots</dt><dd id="slots"></dd>
    </dl>
  </section>
</div>
<h2>GPUs</h2>
<table>
  <thead><tr><th>#</th><th>Model</th><th>Id</th><th>Memory</th><th>Health</th><th>Conditions</th><th>Temp</th>
    <th>Util</th><th>Job</th></tr></thead>
  <tbody id="gpus"></tbody>
</table>
<h2>Running jobs</h2>
<table>
  <thead><tr><th>Job</th><th>Attempt</th><th>Image</th><th>Stage</th><th>Progress</th><th>GPUs</th><th>Started</th>
    </tr></thead>
  <tbody id="active"></tbody>
</table>
<h2>Recent jobs</h2>
<table>
  <thead><tr><th>Job</th><th>Outcome</th><th>Reason</th><th>Received</th><th>Duration</th><th>Output CID</th></tr>
    </thead>
  <tbody id="recent"></tbody>
</table>
<h2>Readiness</h2>
<table>
  <thead><tr><th>Component</th><th>State</th><th>Detail</th></tr></thead>
  <tbody id="readiness"></tbody>
</table>
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/** The page's Content-Security-Policy: nothing loads from anywhere; only the page's own script and style run. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** JSON that cannot end the `<script>` element it is embedded in. */
function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

/** The page, showing `status` until its first refresh. */
export function renderStatusPage(status: NodeStatus): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lamda node agent</title>
<style>${STYLE}</style>
</head>
<body>${BODY}
<script type="application/json" id="initial">${embedJson(status)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
