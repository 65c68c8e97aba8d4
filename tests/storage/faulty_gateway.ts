/** A trustless gateway that misbehaves on purpose, in front of the local IPFS service. Test-only. */
import { CID } from "multiformats/cid";
import { carHeader } from "../../src/storage/dev_gateway.ts";

/** How the gateway misbehaves. */
export type GatewayFault =
  | { kind: "pass" }
  | { kind: "flip" } // flips the last byte of the CAR (inside the last block)
  | { kind: "truncate"; keep: number } // sends only the first `keep` bytes of the CAR
  | { kind: "wrong_root"; serve: string } // answers with the CAR of another CID
  | { kind: "stall"; after: number } // sends `after` bytes, then nothing, forever
  | { kind: "gzip_bomb" } // gzip body that inflates to an endless stream
  | { kind: "endless_section" } // a valid CAR header, then a section claiming 2^40 bytes of zeros
  | { kind: "status"; status: number };

/** A running faulty gateway. */
export interface FaultyGateway extends AsyncDisposable {
  url: string;
  /** Requests seen. */
  hits: number;
}

/** Starts a gateway that forwards to `upstream` and applies `fault` to every answer. */
export function startFaultyGateway(upstream: string, fault: GatewayFault): FaultyGateway {
  const state = { hits: 0 };
  const stalls: (() => void)[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    state.hits++;
    const url = new URL(req.url);
    if (fault.kind === "status") return new Response("injected failure\n", { status: fault.status });
    if (fault.kind === "gzip_bomb") return bomb(url, true);
    if (fault.kind === "endless_section") return bomb(url, false);
    let path = url.pathname;
    if (fault.kind === "wrong_root") path = path.replace(/^\/ipfs\/[^/]+/, `/ipfs/${fault.serve}`);
    const up = await fetch(`${upstream}${path}${url.search}`, { headers: req.headers });
    if (fault.kind === "pass") return up;
    const bytes = new Uint8Array(await up.arrayBuffer());
    if (fault.kind === "flip") {
      bytes[bytes.length - 1] ^= 0x01;
      return new Response(bytes, { status: up.status, headers: up.headers });
    }
    if (fault.kind === "truncate") return new Response(bytes.subarray(0, fault.keep), { status: up.status });
    if (fault.kind === "wrong_root") return new Response(bytes, { status: up.status, headers: up.headers });
    // stall: some bytes, then silence until the client goes away or the test ends.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, fault.after));
        stalls.push(() => controller.close());
      },
    });
    return new Response(body, { status: up.status, headers: up.headers });
  });
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    async [Symbol.asyncDispose]() {
      for (const s of stalls) {
        try {
          s();
        } catch { /* already closed */ }
      }
      await server.shutdown();
    },
  };
}

/** A valid CAR header followed by a section claiming 2^40 bytes and endless zeros, gzip-encoded or not. */
function bomb(url: URL, gzip: boolean): Response {
  const cid = url.pathname.split("/")[2];
  let sent = 0;
  const zeros = new Uint8Array(1024 * 1024);
  const raw = new ReadableStream<BufferSource>({
    start(controller) {
      controller.enqueue(carHeader(CID.parse(cid)) as Uint8Array<ArrayBuffer>);
      controller.enqueue(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x20])); // varint 2^40
      controller.enqueue(CID.parse(cid).bytes.slice()); // a valid CID, so the decoder reaches the block length
    },
    pull(controller) {
      // Bounded so an abandoned stream ends on its own (10 GiB inflated).
      if (sent > 10 * 1024 ** 3) return controller.close();
      sent += zeros.length;
      controller.enqueue(zeros);
    },
  });
  if (!gzip) {
    return new Response(raw as ReadableStream<Uint8Array>, { headers: { "content-type": "application/vnd.ipld.car" } });
  }
  const gz = raw.pipeThrough(new CompressionStream("gzip"));
  return new Response(gz, {
    headers: { "content-type": "application/vnd.ipld.car", "content-encoding": "gzip" },
  });
}
