/**
 * A CPU profile of the agent process through its V8 inspector (started with `--inspect`): `start()` before the load,
 * `stop()` after it; `summary()` ranks functions by self time, the part of the profile docs/performance.md quotes.
 * `heapSnapshot()` takes a heap snapshot through the same session (`heap_summary.ts` reads it).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** A V8 `.cpuprofile` document. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** An inspector session on `host:port`. */
export class Inspector implements AsyncDisposable {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, (result: unknown) => void>();
  #chunks: string[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data as string) as {
        id?: number;
        result?: unknown;
        error?: unknown;
        method?: string;
        params?: { chunk: string };
      };
      if (msg.id !== undefined) this.#pending.get(msg.id)?.(msg.error ? Promise.reject(msg.error) : msg.result);
      else if (msg.method === "HeapProfiler.addHeapSnapshotChunk") this.#chunks.push(msg.params!.chunk);
    };
  }

  /** Connects to the first target the inspector lists, retrying while the process starts. */
  static async connect(hostPort: string, timeoutMs = 30_000): Promise<Inspector> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const list = await (await fetch(`http://${hostPort}/json/list`)).json() as { webSocketDebuggerUrl: string }[];
        const ws = new WebSocket(list[0].webSocketDebuggerUrl);
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = reject;
        });
        return new Inspector(ws);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Sends one command and waits for its result. */
  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve) => {
      this.#pending.set(id, (r) => resolve(r as T));
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async start(): Promise<void> {
    await this.send("Profiler.enable");
    await this.send("Profiler.setSamplingInterval", { interval: 200 });
    await this.send("Profiler.start");
  }

  async stop(): Promise<CpuProfile> {
    const { profile } = await this.send<{ profile: CpuProfile }>("Profiler.stop");
    return profile;
  }

  /** A heap snapshot (V8's `.heapsnapshot` JSON, parsed); the command answers once every chunk has been sent. */
  async heapSnapshot(): Promise<unknown> {
    this.#chunks = [];
    await this.send("HeapProfiler.enable");
    await this.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const text = this.#chunks.join("");
    this.#chunks = [];
    return JSON.parse(text);
  }

  /** Closes the session (again: a no-op). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#ws.readyState >= WebSocket.CLOSING) return;
    this.#ws.close();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The `top` functions by self time, each `{ms, share, name}`; `(idle)` and `(program)` are left out of shares. */
export function summary(profile: CpuProfile, top = 25): { ms: number; share: number; name: string }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (deltas[i + 1] ?? 0) / 1000));
  const byName = new Map<string, number>();
  for (const [id, ms] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === "(idle)") continue;
    const where = f.url.replace(/^.*\/(node_modules|\.deno|npm)\//, "npm/").replace(/^.*\/work\/main\//, "")
      .replace(/^file:\/\/\/.*\/(src|tests)\//, "$1/");
    const name = `${f.functionName || "(anonymous)"} ${where}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    byName.set(name, (byName.get(name) ?? 0) + ms);
  }
  const busy = [...byName.values()].reduce((a, b) => a + b, 0);
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({
    ms,
    share: ms / busy,
    name,
  }));
}
