/**
 * A TCP proxy that forwards to an upstream service but stops forwarding one direction after a number of bytes, until
 * the test releases it: a slow link frozen mid-transfer, so a test can look at the agent while bytes are in flight.
 * Backpressure does the rest: the sender's socket buffers fill and its body stream stops being read. Test-only.
 */

/** Which direction is held. */
export type HoldDirection = "request" | "response";

/** A running proxy. */
export interface HoldingProxy extends AsyncDisposable {
  url: string;
  /** Resolves once a connection has forwarded `after` bytes in the held direction and stopped. */
  readonly holding: Promise<void>;
  /** Lets every held connection go on. */
  release(): void;
}

/** Listens on a free port and forwards to `127.0.0.1:upstreamPort`, holding `direction` after `after` bytes. */
export function startHoldingProxy(upstreamPort: number, direction: HoldDirection, after: number): HoldingProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const open = new Set<Deno.Conn>();
  async function pipe(from: Deno.Conn, to: Deno.Conn, hold: boolean): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    let sent = 0;
    try {
      while (true) {
        const room = hold && sent < after ? Math.min(buf.length, after - sent) : buf.length;
        const n = await from.read(buf.subarray(0, room));
        if (n === null) break;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
        const before = sent;
        sent += n;
        if (hold && before < after && sent >= after) {
          held.resolve();
          await released.promise;
        }
      }
      await to.closeWrite().catch(() => {});
    } catch { /* one side went away; closing both ends the other pipe */ }
  }
  const serving = (async () => {
    for await (const conn of listener) {
      open.add(conn);
      (async () => {
        const up = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
        open.add(up);
        await Promise.all([pipe(conn, up, direction === "request"), pipe(up, conn, direction === "response")]);
        for (const c of [conn, up]) {
          open.delete(c);
          try {
            c.close();
          } catch { /* closed */ }
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    holding: held.promise,
    release: () => released.resolve(),
    async [Symbol.asyncDispose]() {
      released.resolve();
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
