/**
 * An HTTP server whose every answer is an error with a huge body (50 MiB by default), produced only as the peer reads
 * it: what the server had to produce shows how much of the body a client read. Test-only.
 */

/** A running server. */
export interface HugeErrorServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` (TCP) or `unix://<path>` (unix socket). */
  url: string;
  /** Body bytes produced so far (all requests). */
  readonly produced: number;
  /** Requests answered. */
  readonly requests: number;
}

/** Options of {@linkcode startHugeErrorServer}. */
export interface HugeErrorOptions {
  /** Body size; default 50 MiB. */
  bytes?: number;
  status?: number;
  /** JSON bodies start like Docker's and Pinata's error objects: `{"message":"xxxx…`. */
  json?: boolean;
  /** Listen on this unix socket path instead of a TCP port. */
  socketPath?: string;
}

/** Starts the server; dispose it to stop. */
export function startHugeErrorServer(options: HugeErrorOptions = {}): HugeErrorServer {
  const total = options.bytes ?? 50 * 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024).fill(0x78); // "x"
  let produced = 0;
  let requests = 0;
  const handler = () => {
    requests++;
    let sent = 0;
    const head = new TextEncoder().encode(options.json ? '{"message":"' : "");
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent >= total) return ctl.close();
        const piece = sent === 0 && head.length ? head : chunk.subarray(0, Math.min(chunk.length, total - sent));
        sent += piece.length;
        produced += piece.length;
        ctl.enqueue(piece);
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      status: options.status ?? 500,
      headers: { "content-type": options.json ? "application/json" : "text/plain" },
    });
  };
  const server = options.socketPath
    ? Deno.serve({ path: options.socketPath, onListen: () => {} }, handler)
    : Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const addr = server.addr;
  return {
    url: addr.transport === "unix" ? `unix://${addr.path}` : `http://127.0.0.1:${(addr as Deno.NetAddr).port}`,
    get produced() {
      return produced;
    },
    get requests() {
      return requests;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
