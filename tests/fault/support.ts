/**
 * Fault-injection helpers: a proxy that can stall or break a response mid-body (an IPFS gateway, a registry's blobs), a
 * Pinata proxy that can hold an upload mid-body, Docker `create` event counts, and the secret scan every fault scenario
 * ends with. Test-only.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/docker/mod.ts";
import type { AgentProcess } from "../support/agent_process.ts";
import type { Status } from "../agent/helpers.ts";

/** How {@linkcode startControlledGateway} answers the requests it may fault right now. */
export type GatewayMode = "pass" | "stall" | "break";

/** A proxy whose behaviour the test switches while the agent (or dockerd) uses it. */
export interface ControlledGateway extends AsyncDisposable {
  url: string;
  /** `host:port`, for an image reference through it. */
  host: string;
  mode: GatewayMode;
  /** Requests seen that the mode applies to. */
  readonly hits: number;
  /** Responses that sent their first half and are now stalled (in `stall` mode). */
  readonly stalls: number;
  /** Resolves when the next request the mode applies to arrives. */
  nextHit(): Promise<void>;
  /** Resolves when a response has sent its first half and stalls (already stalled ones count). */
  nextStall(): Promise<void>;
}

/** Options of {@linkcode startControlledGateway}. */
export interface ControlledGatewayOptions {
  /** The requests the mode applies to; default IPFS gateway paths (`/ipfs/…`). Others always pass. */
  faultPaths?: RegExp;
  /**
   * Keeps the upstream `Content-Length` on a faulted response, as a registry declares a blob's size (dockerd's progress
   * totals come from it). Default: dropped, the faulted body goes out chunked.
   */
  keepContentLength?: boolean;
}

/**
 * Forwards to `upstream`. `stall`: sends the first half of the body, then nothing until the client leaves or the mode
 * goes back to `pass`. `break`: sends the first half, then errors the body (the connection drops mid-download).
 */
export function startControlledGateway(
  upstream: string,
  mode: GatewayMode = "pass",
  options: ControlledGatewayOptions = {},
): ControlledGateway {
  const faultPaths = options.faultPaths ?? /^\/ipfs\//;
  const state = { hits: 0, stalls: 0, mode, waiters: [] as (() => void)[], stallWaiters: [] as (() => void)[] };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const up = await fetch(`${upstream}${url.pathname}${url.search}`, { headers, method: req.method });
    if (!faultPaths.test(url.pathname) || req.method !== "GET") return up;
    state.hits++;
    for (const w of state.waiters.splice(0)) w();
    if (state.mode === "pass") return up;
    const bytes = new Uint8Array(await up.arrayBuffer());
    const half = Math.max(1, bytes.length >> 1);
    const fault = state.mode;
    const outHeaders = new Headers(up.headers);
    if (!options.keepContentLength) outHeaders.delete("content-length");
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(bytes.subarray(0, half));
        if (fault === "break") return controller.error(new Error("injected: connection dropped"));
        state.stalls++;
        for (const w of state.stallWaiters.splice(0)) w();
        while (state.mode === "stall" && !req.signal.aborted) await sleep(100);
        if (req.signal.aborted) return;
        controller.enqueue(bytes.subarray(half));
        controller.close();
      },
    });
    return new Response(body, { status: up.status, headers: outHeaders });
  });
  const port = (server.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: GatewayMode) {
      state.mode = m;
    },
    get hits() {
      return state.hits;
    },
    get stalls() {
      return state.stalls;
    },
    nextHit: () => new Promise<void>((r) => state.waiters.push(r)),
    nextStall: () => new Promise<void>((r) => state.stalls > 0 ? r() : state.stallWaiters.push(r)),
    async [Symbol.asyncDispose]() {
      state.mode = "pass";
      await server.shutdown();
    },
  };
}

/** An upload the Pinata proxy held: how far its body had come, and how the body ended once reading resumed. */
export interface HeldUpload {
  /** The job of the upload (from its `pinataMetadata` name `lamda-job-<id>`), when it was seen. */
  jobId?: string;
  /** Body bytes read when the hold began. */
  bytesAtHold: number;
  /** True when the hold began before the body ended (the client was still sending). */
  midBody: boolean;
  /** `complete`: the whole body arrived after the hold; `interrupted`: the client went away mid-body. */
  end?: "complete" | "interrupted";
}

/** A Pinata proxy that holds upload requests while `hold` is set, and answers the first `fail` uploads with 503. */
export interface HoldingPinata extends AsyncDisposable {
  url: string;
  /**
   * While set, an upload's body is read up to `holdAfterBytes` and then no further (the client's send blocks in
   * flight) until `hold` is cleared or the client goes away; a smaller body is held whole before it is forwarded.
   */
  hold: boolean;
  fail: number;
  /** Upload requests seen (held, failed or forwarded). */
  readonly uploads: number;
  /** The job id of each upload request, in arrival order (`""` where the body named none). */
  readonly jobs: readonly string[];
  /** The uploads held so far, in order. */
  readonly held: readonly HeldUpload[];
  /** Resolves when the next upload is held. */
  nextHold(): Promise<HeldUpload>;
}

/** Options of {@linkcode startHoldingPinata}. */
export interface HoldingPinataOptions {
  hold?: boolean;
  fail?: number;
  /** Body bytes read before a held upload stops being read (default 1 MiB). */
  holdAfterBytes?: number;
}

const JOB_NAME = /"name":"lamda-job-([^"]+)"/;

/** Starts a Pinata proxy in front of `upstream` (the local IPFS service). */
export function startHoldingPinata(upstream: string, options: HoldingPinataOptions = {}): HoldingPinata {
  const holdAfter = options.holdAfterBytes ?? 1 << 20;
  const state = {
    hold: options.hold ?? false,
    fail: options.fail ?? 0,
    uploads: 0,
    jobs: [] as string[],
    held: [] as HeldUpload[],
    waiters: [] as ((h: HeldUpload) => void)[],
  };
  const holdHere = async (req: Request, record: HeldUpload) => {
    state.held.push(record);
    for (const w of state.waiters.splice(0)) w(record);
    while (state.hold && !req.signal.aborted) await sleep(100);
  };
  /** Reads an upload body chunk by chunk, holding mid-body while `hold` is set; undefined when the client left. */
  const readUpload = async (req: Request): Promise<Uint8Array<ArrayBuffer> | undefined> => {
    const chunks: Uint8Array[] = [];
    let read = 0;
    let jobId: string | undefined;
    let record: HeldUpload | undefined;
    const reader = req.body!.getReader();
    try {
      for (;;) {
        if (state.hold && !record && read >= holdAfter) {
          record = { jobId, bytesAtHold: read, midBody: true };
          await holdHere(req, record);
        }
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        read += value.length;
        // The metadata part comes first: its name is in the first bytes.
        if (jobId === undefined && read - value.length < 65_536) {
          const head = new TextDecoder().decode(concat(chunks).subarray(0, 65_536));
          jobId = JOB_NAME.exec(head)?.[1];
        }
      }
    } catch {
      if (record) record.end = "interrupted";
      state.jobs.push(jobId ?? "");
      return undefined;
    }
    if (record) record.end = "complete";
    state.jobs.push(jobId ?? "");
    if (state.hold && !record) await holdHere(req, { jobId, bytesAtHold: read, midBody: false, end: "complete" });
    return concat(chunks);
  };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const upload = req.method === "POST" && url.pathname.startsWith("/pinning/") && req.body !== null;
    let body: Uint8Array<ArrayBuffer> | undefined;
    if (upload) {
      state.uploads++;
      body = await readUpload(req);
      if (body === undefined || req.signal.aborted) return new Response(null, { status: 499 });
      if (state.fail > 0) {
        state.fail--;
        return Response.json({ error: "injected unavailable" }, { status: 503 });
      }
    } else if (req.body) {
      body = new Uint8Array(await req.arrayBuffer());
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
    get jobs() {
      return state.jobs;
    },
    get held() {
      return state.held;
    },
    nextHold: () => new Promise<HeldUpload>((r) => state.waiters.push(r)),
    async [Symbol.asyncDispose]() {
      state.hold = false;
      await server.shutdown();
    },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A TCP listener of a test, see {@linkcode startTcpForward}. */
export interface TcpForward extends AsyncDisposable {
  port: number;
}

/**
 * Listens on `hostname` (port `port`, default a free one) and pipes each connection to `127.0.0.1:<target>`, or, with
 * no target, accepts and closes it. When `port` is taken, something else already answers there: nothing is started.
 */
export function startTcpForward(hostname: string, target?: number, port = 0): TcpForward {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname, port });
  } catch (error) {
    if (port !== 0 && error instanceof Deno.errors.AddrInUse) return { port, [Symbol.asyncDispose]: async () => {} };
    throw error;
  }
  const conns = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const conn of listener) {
      if (target === undefined) {
        conn.close();
        continue;
      }
      conns.add(conn);
      Deno.connect({ hostname: "127.0.0.1", port: target }).then((up) => {
        conns.add(up);
        conn.readable.pipeTo(up.writable).catch(() => {});
        up.readable.pipeTo(conn.writable).catch(() => {});
      }, () => conn.close());
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await accepting;
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
