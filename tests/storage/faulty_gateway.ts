/** A trustless gateway that misbehaves on purpose, in front of the local IPFS service. Test-only. */
import { CID } from "multiformats/cid";
import { varint } from "multiformats";
import { carHeader } from "../../src/storage/dev_gateway.ts";

/** How the gateway misbehaves. */
export type GatewayFault =
  | { kind: "pass" }
  | { kind: "flip" } // flips the last byte of the CAR (inside the last block)
  | { kind: "truncate"; keep: number } // sends only the first `keep` bytes of each answer, then ends it cleanly
  | { kind: "wrong_root"; serve: string } // answers with the CAR of another CID
  | { kind: "header_root"; root: string } // the right blocks, under a CAR header that names `root`
  | { kind: "stall"; after: number } // sends `after` bytes in all, then nothing, forever (the gateway hangs)
  // The first `times` answers (default all) drop after `after` bytes; later ones pass, or get HTTP `then`.
  | { kind: "break"; after: number; times?: number; then?: number }
  | { kind: "gzip_bomb" } // gzip body that inflates to an endless stream
  | { kind: "endless_section" } // a valid CAR header, then a section claiming 2^40 bytes of zeros
  | { kind: "status"; status: number };

/** A running faulty gateway. */
export interface FaultyGateway extends AsyncDisposable {
  url: string;
  /** Requests seen. */
  hits: number;
  /** Body bytes sent to the client, all answers together. */
  bytes: number;
}

/** Starts a gateway that forwards to `upstream` and applies `fault` to every answer. */
export function startFaultyGateway(upstream: string, fault: GatewayFault): FaultyGateway {
  const state = { hits: 0, bytes: 0, breaks: 0 };
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
    const bytes = new Uint8Array(await up.arrayBuffer());
    const headers = new Headers(up.headers);
    headers.delete("content-length");
    const send = (body: Uint8Array) => {
      state.bytes += body.byteLength;
      return new Response(body as Uint8Array<ArrayBuffer>, { status: up.status, headers });
    };
    if (fault.kind === "pass" || fault.kind === "wrong_root" || !up.ok) return send(bytes);
    if (fault.kind === "flip") {
      bytes[bytes.length - 1] ^= 0x01;
      return send(bytes);
    }
    if (fault.kind === "truncate") return send(bytes.subarray(0, fault.keep));
    if (fault.kind === "header_root") {
      const [length, prefix] = varint.decode(bytes);
      return send(concat(carHeader(CID.parse(fault.root)), bytes.subarray(prefix + length)));
    }
    if (fault.kind === "break") {
      if (fault.times !== undefined && state.breaks >= fault.times) {
        return fault.then ? new Response("injected failure\n", { status: fault.then }) : send(bytes);
      }
      state.breaks++;
      const cut = Math.min(fault.after, Math.max(0, bytes.length - 1));
      state.bytes += cut;
      let pulls = 0;
      const body = new ReadableStream<Uint8Array>({
        // Error on the second pull: an error in the same call would discard the chunk still queued.
        pull(controller) {
          if (pulls++ === 0) controller.enqueue(bytes.slice(0, cut));
          else controller.error(new Error("injected: connection dropped"));
        },
      });
      return new Response(body, { status: up.status, headers });
    }
    // stall: the gateway's byte budget, then silence until the client goes away or the test ends.
    const sent = Math.max(0, Math.min(bytes.length, fault.after - state.bytes));
    state.bytes += sent;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (sent > 0) controller.enqueue(bytes.slice(0, sent));
        stalls.push(() => controller.close());
      },
    });
    return new Response(body, { status: up.status, headers });
  });
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    get bytes() {
      return state.bytes;
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
