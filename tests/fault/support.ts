/**
 * Fault-injection helpers: a gateway that can stall or break mid-body, a Pinata proxy that can hold uploads, Docker
 * `create` event counts, and the secret scan every fault scenario ends with. Test-only.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/docker/mod.ts";
import type { AgentProcess } from "../support/agent_process.ts";
import type { Status } from "../agent/helpers.ts";

/** How {@linkcode startControlledGateway} answers `/ipfs/` requests right now. */
export type GatewayMode = "pass" | "stall" | "break";

/** A gateway proxy whose behaviour the test switches while the agent uses it. */
export interface ControlledGateway extends AsyncDisposable {
  url: string;
  mode: GatewayMode;
  /** `/ipfs/` requests seen. */
  readonly hits: number;
  /** Resolves when the next `/ipfs/` request arrives. */
  nextHit(): Promise<void>;
}

/**
 * Forwards to `upstream`. `stall`: sends the first half of the body, then nothing until the client leaves or the mode
 * goes back to `pass`. `break`: sends the first half, then errors the body (the connection drops mid-download).
 */
export function startControlledGateway(upstream: string, mode: GatewayMode = "pass"): ControlledGateway {
  const state = { hits: 0, mode, waiters: [] as (() => void)[] };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const up = await fetch(`${upstream}${url.pathname}${url.search}`, { headers: req.headers, method: req.method });
    if (!url.pathname.startsWith("/ipfs/")) return up;
    state.hits++;
    for (const w of state.waiters.splice(0)) w();
    if (state.mode === "pass") return up;
    const bytes = new Uint8Array(await up.arrayBuffer());
    const half = Math.max(1, bytes.length >> 1);
    const fault = state.mode;
    const headers = new Headers(up.headers);
    headers.delete("content-length");
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(bytes.subarray(0, half));
        if (fault === "break") return controller.error(new Error("injected: connection dropped"));
        while (state.mode === "stall" && !req.signal.aborted) await sleep(100);
        if (req.signal.aborted) return;
        controller.enqueue(bytes.subarray(half));
        controller.close();
      },
    });
    return new Response(body, { status: up.status, headers });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: GatewayMode) {
      state.mode = m;
    },
    get hits() {
      return state.hits;
    },
    nextHit: () => new Promise<void>((r) => state.waiters.push(r)),
    async [Symbol.asyncDispose]() {
      state.mode = "pass";
      await server.shutdown();
    },
  };
}

/** A Pinata proxy that holds upload requests while `hold` is set, and answers the first `fail` uploads with 503. */
export interface HoldingPinata extends AsyncDisposable {
  url: string;
  hold: boolean;
  fail: number;
  /** Upload requests seen (held, failed or forwarded). */
  readonly uploads: number;
}

/** Starts a Pinata proxy in front of `upstream` (the local IPFS service). */
export function startHoldingPinata(upstream: string, options: { hold?: boolean; fail?: number } = {}): HoldingPinata {
  const state = { hold: options.hold ?? false, fail: options.fail ?? 0, uploads: 0 };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const upload = req.method === "POST" && url.pathname.startsWith("/pinning/");
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
    if (upload) {
      state.uploads++;
      if (state.fail > 0) {
        state.fail--;
        return Response.json({ error: "injected unavailable" }, { status: 503 });
      }
      while (state.hold && !req.signal.aborted) await sleep(100);
      if (req.signal.aborted) return new Response(null, { status: 499 });
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    return await fetch(`${upstream}${url.pathname}${url.search}`, { method: req.method, headers, body });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    get hold() {
      return state.hold;
    },
    set hold(v: boolean) {
      state.hold = v;
    },
    get fail() {
      return state.fail;
    },
    set fail(v: number) {
      state.fail = v;
    },
    get uploads() {
      return state.uploads;
    },
    async [Symbol.asyncDispose]() {
      state.hold = false;
      await server.shutdown();
    },
  };
}

/** The agent's own sleep, re-exported for the fault scenarios. */
import { sleep } from "../../src/timers.ts";
export { sleep };

/** How many containers Docker created for `jobId` since `since` (unix seconds), from the `/events` stream. */
export async function containerCreates(dockerHost: string, jobId: string, since: number): Promise<number> {
  using docker = new DockerClient(dockerHost);
  const filters = JSON.stringify({ type: ["container"], event: ["create"], label: [`lamda.job_id=${jobId}`] });
  const until = Math.ceil(Date.now() / 1000) + 1;
  const res = await docker.request("GET", "/events", { query: { since, until, filters } });
  const text = await res.text();
  return text.split("\n").filter((l) => l.trim()).length;
}

/** Terminal statuses of one job. */
export function terminals(statuses: Status[], jobId: string): Status[] {
  // A finished job delivered again gets its final status re-published, byte for byte (core subscribers see it
  // twice, the status stream stores it once): identical copies are one terminal status.
  const seen = new Map<string, Status>();
  for (const s of statuses) {
    if (s.job_id === jobId && (s.status === "completed" || s.status === "failed")) seen.set(JSON.stringify(s), s);
  }
  return [...seen.values()];
}

/** The forms a secret may take in text: as given, without `0x`, and both cases of hex. */
export function secretForms(secrets: string[]): string[] {
  const forms = new Set<string>();
  for (const s of secrets.filter((s) => s.length >= 8)) {
    forms.add(s);
    const bare = s.replace(/^0x/i, "");
    forms.add(bare);
    forms.add(bare.toLowerCase());
    forms.add(bare.toUpperCase());
  }
  return [...forms];
}

/** Asserts that no agent log line (of any process) and no status message contains any form of a secret. */
export function assertNoSecrets(agents: AgentProcess[], statuses: unknown[], secrets: string[]): void {
  const forms = secretForms(secrets);
  const texts = [
    ...agents.flatMap((a) => [...a.lines, ...a.stdout]),
    ...statuses.map((s) => JSON.stringify(s)),
  ];
  assert.ok(texts.length > 0, "there is output to search");
  const leaks = texts.filter((t) => forms.some((f) => t.includes(f)));
  assert.deepEqual(leaks.map((l) => l.slice(0, 200)), [], "no secret in any log line or status");
}

/** Waits for the agent's "Job stage" log record of `jobId` reaching `stage`. */
export function stageReached(agent: AgentProcess, jobId: string, stage: string, timeoutMs = 60_000) {
  return agent.waitFor((r) => r.msg === "Job stage" && r.job_id === jobId && r.stage === stage, timeoutMs, stage);
}
