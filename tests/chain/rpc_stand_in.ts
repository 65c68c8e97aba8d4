/**
 * An HTTP JSON-RPC stand-in in front of anvil: forwards every call, records it, and can answer calls itself the way
 * public RPC providers do when they throttle or refuse (over HTTP 200, as they do).
 */

/** Throttling answers recorded from public RPC providers, `id` replaced by the request's. */
export const THROTTLE_BODIES = {
  /** BNB Chain's public RPC and Infura: EIP-1474 "limit exceeded". */
  limitExceeded: { code: -32005, message: "limit exceeded" },
  /** Base's public RPC (base/node#368): a -32000 wrapping the upstream 429. */
  tooManyRequests: {
    code: -32000,
    message:
      '429 Too Many Requests: {"jsonrpc":"2.0","error":{"code":-32016,"message":"over rate limit"},"id":2239375}\n',
  },
} as const;

/** One JSON-RPC call the stand-in received. */
export interface RecordedCall {
  method: string;
  params: unknown[];
  at: number;
  /** Answered by the stand-in itself rather than forwarded. */
  intercepted: boolean;
}

/** Answers a call itself (a JSON-RPC `error` object), or returns undefined to forward it. */
export type Interceptor = (call: { method: string; params: unknown[]; n: number }) => object | undefined;

/** A running stand-in; dispose to stop it. */
export class RpcStandIn implements AsyncDisposable {
  readonly calls: RecordedCall[] = [];
  /** Replace to change what the stand-in answers itself. */
  intercept: Interceptor = () => undefined;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #upstream: string;

  private constructor(upstream: string) {
    this.#upstream = upstream;
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => this.#handle(req));
  }

  /** Starts a stand-in forwarding to `upstream` (anvil's URL). */
  static start(upstream: string): RpcStandIn {
    return new RpcStandIn(upstream);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Calls of `method` recorded so far (all of them, or those matching `where`). */
  callsOf(method: string, where: (c: RecordedCall) => boolean = () => true): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && where(c));
  }

  /** Answers the first `n` calls (from now) with `error`, as a throttling provider does; forwards the rest. */
  throttleNext(n: number, error: object = THROTTLE_BODIES.limitExceeded): void {
    const from = this.calls.length;
    this.intercept = ({ n: index }) => (index - from < n ? error : undefined);
  }

  async #handle(req: Request): Promise<Response> {
    const text = await req.text();
    const body = JSON.parse(text) as { id: unknown; method: string; params?: unknown[] };
    const n = this.calls.length;
    const error = this.intercept({ method: body.method, params: body.params ?? [], n });
    this.calls.push({ method: body.method, params: body.params ?? [], at: Date.now(), intercepted: !!error });
    if (error) return Response.json({ jsonrpc: "2.0", id: body.id, error });
    const res = await fetch(this.#upstream, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: text,
    });
    return new Response(res.body, { status: res.status, headers: { "content-type": "application/json" } });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}
