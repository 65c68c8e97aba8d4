/** A thin pass-through proxy on a unix socket in front of the real dockerd: records every request the agent sends. */

/** One recorded request. */
export interface RecordedRequest {
  method: string;
  /** Path without the `/v1.xx` prefix, with the query. */
  path: string;
  headers: Headers;
  /** Parsed JSON body, when there was one. */
  body?: unknown;
}

/** Options of {@linkcode RecordingProxy.start}. */
export interface ProxyOptions {
  /** Runs before a request is forwarded (it waits for it): lets a test act while the agent's call is in flight. */
  before?: (request: RecordedRequest) => void | Promise<void>;
}

/** Whether a request is one of the engine's GPU probe at connect (each names the probe's image or container). */
export function isGpuProbe(request: RecordedRequest): boolean {
  return /gpu[-_]probe/.test(decodeURIComponent(request.path));
}

/** A running proxy; `host` is its `unix://` address. */
export class RecordingProxy implements AsyncDisposable {
  readonly requests: RecordedRequest[] = [];
  readonly host: string;
  #server: Deno.HttpServer;
  #upstream: Deno.HttpClient;
  #dir: string;

  private constructor(dir: string, upstreamSocket: string, options: ProxyOptions) {
    this.#dir = dir;
    const path = `${dir}/proxy.sock`;
    this.host = `unix://${path}`;
    this.#upstream = Deno.createHttpClient({ proxy: { transport: "unix", path: upstreamSocket } });
    this.#server = Deno.serve({ path, onListen: () => {} }, async (req) => {
      const url = new URL(req.url);
      const bytes = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
      let body: unknown;
      if (bytes && req.headers.get("content-type")?.includes("json")) {
        body = JSON.parse(new TextDecoder().decode(bytes));
      }
      const recorded = {
        method: req.method,
        path: url.pathname.replace(/^\/v\d+\.\d+/, "") + url.search,
        headers: req.headers,
        body,
      };
      this.requests.push(recorded);
      await options.before?.(recorded);
      const res = await fetch(new URL(url.pathname + url.search, "http://localhost"), {
        method: req.method,
        headers: req.headers,
        body: bytes,
        client: this.#upstream,
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    });
  }

  /** Starts a proxy in front of the daemon at `upstream` (`unix:///…`). */
  static start(upstream: string, options: ProxyOptions = {}): RecordingProxy {
    if (!upstream.startsWith("unix://")) throw new Error("the recording proxy needs a unix:// upstream");
    const dir = Deno.makeTempDirSync({ prefix: "lamda-docker-proxy-" });
    return new RecordingProxy(dir, upstream.slice("unix://".length), options);
  }

  /** Requests other than the start-up handshake (`/version`, `/info` and the GPU probe's calls). */
  calls(): RecordedRequest[] {
    return this.requests.filter((r) => !/^\/(version|info|_ping)/.test(r.path) && !isGpuProbe(r));
  }

  /** The create request of the container named `name`. */
  createOf(name: string): RecordedRequest | undefined {
    return this.requests.find((r) =>
      r.method === "POST" && r.path.startsWith("/containers/create?") &&
      new URLSearchParams(r.path.slice(r.path.indexOf("?"))).get("name") === name
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
    this.#upstream.close();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
