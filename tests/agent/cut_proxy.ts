/**
 * A TCP proxy on a fixed port that a test can cut and restore: one client's link to a service drops (every open
 * connection reset, new ones refused) while the service and its other clients stay up. Test-only.
 */

/** A running proxy. */
export interface CutProxy extends AsyncDisposable {
  readonly port: number;
  /** Drops every forwarded connection and refuses new ones. */
  cut(): void;
  /** Accepts connections on the same port again. */
  restore(): void;
}

/** Listens on a free port and forwards each connection to `127.0.0.1:upstreamPort`. */
export function startCutProxy(upstreamPort: number): CutProxy {
  let listener: Deno.Listener | undefined = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const open = new Set<Deno.Conn>();
  const closeAll = () => {
    for (const c of open) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    open.clear();
  };
  async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: true });
    } catch {
      // cut, or the other side went away
    }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch {
        // already closed
      }
      open.delete(c);
    }
  }
  async function accept(l: Deno.Listener): Promise<void> {
    try {
      for await (const client of l) {
        try {
          const upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
          open.add(client).add(upstream);
          void pipe(client, upstream);
          void pipe(upstream, client);
        } catch {
          client.close();
        }
      }
    } catch {
      // listener closed by cut()
    }
  }
  void accept(listener);
  return {
    port,
    cut() {
      listener?.close();
      listener = undefined;
      closeAll();
    },
    restore() {
      if (listener) return;
      listener = Deno.listen({ hostname: "127.0.0.1", port });
      void accept(listener);
    },
    [Symbol.asyncDispose]() {
      listener?.close();
      listener = undefined;
      closeAll();
      return Promise.resolve();
    },
  };
}
