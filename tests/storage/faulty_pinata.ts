/** A TCP-level stand-in for Pinata that answers the first connections with scripted faults, then proxies. Test-only. */

/** What one connection gets. */
export type PinFault =
  | "pass" // proxied to the real local service
  | "reset" // reads part of the upload, then drops the connection
  | "401"
  | "429"
  | "500"
  | "503"
  | "bogus_cid"; // drains the upload and answers 200 with a CID that is not the upload's

/** A running fault proxy. */
export interface FaultyPinata extends AsyncDisposable {
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
}

const enc = new TextEncoder();

/** Listens on a free port; connection `i` gets `script[i]` (then `pass`). */
export function startFaultyPinata(upstreamPort: number, script: PinFault[]): FaultyPinata {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { connections: 0 };
  const open = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      const fault = script[state.connections++] ?? "pass";
      open.add(conn);
      handle(conn, fault, upstreamPort).catch(() => {}).finally(() => {
        open.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

async function handle(conn: Deno.Conn, fault: PinFault, upstreamPort: number): Promise<void> {
  if (fault === "pass") {
    const up = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
    await Promise.allSettled([conn.readable.pipeTo(up.writable), up.readable.pipeTo(conn.writable)]);
    return;
  }
  const buf = new Uint8Array(64 * 1024);
  if (fault === "reset") {
    let got = 0;
    while (got < 128 * 1024) {
      const n = await conn.read(buf);
      if (n === null) return;
      got += n;
    }
    return; // the caller closes the socket mid-upload
  }
  // Drain the request so the client reads the answer rather than a broken pipe.
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) return;
    head += new TextDecoder("latin1").decode(buf.subarray(0, n));
  }
  const bodyStart = head.indexOf("\r\n\r\n") + 4;
  if (/transfer-encoding:\s*chunked/i.test(head)) {
    // Deno's fetch streams bodies chunked: read up to the last-chunk marker.
    let tail = head.slice(bodyStart);
    while (!tail.endsWith("0\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      tail = (tail + new TextDecoder("latin1").decode(buf.subarray(0, n))).slice(-16);
    }
  } else {
    let rest = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? "0") - (head.length - bodyStart);
    while (rest > 0) {
      const n = await conn.read(buf);
      if (n === null) return;
      rest -= n;
    }
  }
  const answers: Record<string, [string, string]> = {
    "401": ["401 Unauthorized", JSON.stringify({ error: { reason: "INVALID_CREDENTIALS" } })],
    "429": ["429 Too Many Requests", JSON.stringify({ error: "rate limited" })],
    "500": ["500 Internal Server Error", JSON.stringify({ error: "boom" })],
    "503": ["503 Service Unavailable", JSON.stringify({ error: "unavailable" })],
    "bogus_cid": [
      "200 OK",
      JSON.stringify({
        IpfsHash: "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354",
        PinSize: 4,
        Timestamp: new Date().toISOString(),
      }),
    ],
  };
  const [status, body] = answers[fault];
  const extra = fault === "429" ? "Retry-After: 0\r\n" : "";
  await conn.write(enc.encode(
    `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\n${extra}content-length: ${
      enc.encode(body).length
    }\r\nconnection: close\r\n\r\n${body}`,
  ));
}
