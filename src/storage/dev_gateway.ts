/**
 * The gateway half of the local IPFS service: `/ipfs/<cid>[/path]` as CAR, raw block, or file bytes, over a
 * blockstore on disk. The default mode follows the trustless-gateway spec's MUST/SHOULD rules; the other modes replay
 * how deployed gateways are known to differ from it, so the client is tested against both.
 */
import { decode as decodePb } from "@ipld/dag-pb";
import { exporter, walkPath } from "ipfs-unixfs-exporter";
import { CID } from "multiformats/cid";
import { varint } from "multiformats";
import { DAG_PB, IDENTITY } from "./block_verify.ts";
import { BlockNotFoundError, type DiskBlockstore } from "./disk_blockstore.ts";

const CAR = "application/vnd.ipld.car";
const RAW = "application/vnd.ipld.raw";

/**
 * How the gateway answers.
 * - `trustless`: the spec (specs.ipfs.tech/http-gateways/trustless-gateway): `format` before `Accept`,
 *   `Content-Type: application/vnd.ipld.car;version=1;order=dfs;dups=n`, `Content-Disposition: attachment`, 404 when
 *   the root block is missing, a CAR stream cut when a child block is missing, the `bafkqaaa` probe answered, identity
 *   blocks never sent.
 * - `deserialized`: a path gateway only: `?format=car`, `?format=raw` and the `Accept` header are ignored; a file is
 *   answered with its bytes (`application/octet-stream`), a directory with an HTML listing. Many public and dedicated
 *   gateways do this (DESIGN.md §3; ipfs/service-worker-gateway#356: inbrowser.link answered `?format=raw` with the
 *   file).
 * - `legacy_car`: a CAR without the spec's optional parts: plain `Content-Type: application/vnd.ipld.car` (the spec:
 *   "the legacy gateway may not support optional content type parameters like order and dups"), blocks in an order
 *   of its own (children before parents), duplicates sent every time they occur, and no roots in the header (the
 *   spec: the roots field is unspecified, clients SHOULD ignore it).
 * - `raw_only`: raw blocks only (the spec makes them a MUST and CARs a SHOULD); a CAR request gets HTTP 501, as
 *   ipfs/service-worker-gateway#356 settled on for formats a gateway does not implement.
 */
export type GatewayMode = "trustless" | "deserialized" | "legacy_car" | "raw_only";

/** Answers `GET /ipfs/...` from `store`. */
export async function handleGateway(
  req: Request,
  url: URL,
  store: DiskBlockstore,
  mode: GatewayMode = "trustless",
): Promise<Response> {
  const parts = url.pathname.split("/").filter((p) => p !== "").slice(1).map(decodeURIComponent);
  let root: CID;
  try {
    root = CID.parse(parts[0] ?? "");
  } catch {
    return text(400, "invalid CID");
  }
  const subPath = parts.slice(1);
  const accept = req.headers.get("accept") ?? "";
  // The spec: when both are present, `format` SHOULD take precedence.
  const asked = url.searchParams.get("format") ?? (accept.includes(CAR) ? "car" : accept.includes(RAW) ? "raw" : "");
  const format = mode === "deserialized" ? "" : asked;
  // The exporter's view of the store; identity CIDs (the `bafkqaaa` probe) hold their own bytes.
  const blocks = {
    async *get(cid: CID) {
      yield await readBlock(store, cid);
    },
    // deno-lint-ignore no-explicit-any
  } as any;
  try {
    if (format === "raw") {
      if (subPath.length > 0) return text(400, "format=raw takes no path");
      const bytes = await readBlock(store, root);
      return new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: {
          "content-type": RAW,
          "content-length": String(bytes.byteLength),
          "content-disposition": `attachment; filename="${root}.bin"`,
          etag: `"${root}.raw"`,
        },
      });
    }
    if (format === "car" && mode === "raw_only") return text(501, "CAR responses are not implemented");
    if (format === "car") {
      const pathCids: CID[] = [];
      let target = root;
      if (subPath.length > 0) {
        for await (const entry of walkPath(`${root}/${subPath.join("/")}`, blocks)) pathCids.push(entry.cid);
        target = pathCids.pop()!;
      } else {
        await readBlock(store, root); // 404 before the 200 is sent
      }
      const legacy = mode === "legacy_car";
      const body = legacy ? legacyCarStream(target, store) : carStream(root, pathCids, target, store);
      return new Response(body, {
        headers: {
          "content-type": legacy ? CAR : `${CAR};version=1;order=dfs;dups=n`,
          "content-disposition": `attachment; filename="${root}.car"`,
          etag: `"${root}.car.all"`,
          "x-ipfs-roots": root.toString(),
        },
      });
    }
    if (format !== "") return text(400, `unsupported format ${format}`);
    const entry = await exporter(`${root}${subPath.length ? "/" + subPath.join("/") : ""}`, blocks);
    if (entry.type === "directory") {
      const names: string[] = [];
      for await (const e of entry.entries()) names.push(e.name);
      if (mode === "deserialized") return htmlListing(url.pathname, names);
      return Response.json({ cid: entry.cid.toString(), entries: names });
    }
    if (entry.type !== "file" && entry.type !== "raw" && entry.type !== "identity") return text(501, "not a file");
    const content = entry.content();
    return new Response(ReadableStream.from(content), {
      headers: { "content-type": "application/octet-stream", "content-length": String(entry.size) },
    });
  } catch (error) {
    if (error instanceof BlockNotFoundError || (error as Error).name === "NotFoundError") return text(404, "not found");
    return text(500, (error as Error).message);
  }
}

/** Options of {@linkcode serveGateway}. */
export interface GatewayServerOptions {
  store: DiskBlockstore;
  mode?: GatewayMode;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  hostname?: string;
}

/** A running stand-in gateway, counting what it serves. */
export interface GatewayServer extends AsyncDisposable {
  url: string;
  /** `/ipfs/` requests answered. */
  readonly requests: number;
  /** Body bytes sent, all answers together. */
  readonly bytes: number;
  close(): Promise<void>;
}

/** Starts a gateway (and nothing else) over `store`, in one of the {@linkcode GatewayMode}s. */
export function serveGateway(options: GatewayServerOptions): GatewayServer {
  const stats = { requests: 0, bytes: 0 };
  const server = Deno.serve({
    port: options.port ?? 0,
    hostname: options.hostname ?? "127.0.0.1",
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET" || !url.pathname.startsWith("/ipfs/")) return text(404, "not found");
    stats.requests++;
    const res = await handleGateway(req, url, options.store, options.mode);
    if (!res.body) return res;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          stats.bytes += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: res.status, headers: res.headers });
  });
  const { port } = server.addr as Deno.NetAddr;
  const close = async () => {
    await server.shutdown().catch(() => {});
  };
  return {
    url: `http://${options.hostname ?? "127.0.0.1"}:${port}`,
    get requests() {
      return stats.requests;
    },
    get bytes() {
      return stats.bytes;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A block, or the bytes an identity CID holds (the spec's `bafkqaaa` probe: an empty block). */
function readBlock(store: DiskBlockstore, cid: CID): Promise<Uint8Array> {
  if (cid.multihash.code === IDENTITY) return Promise.resolve(cid.multihash.digest);
  return store.read(cid);
}

/** The CAR header for one root: dag-cbor `{roots: [root], version: 1}`, length-prefixed. */
export function carHeader(root: CID): Uint8Array {
  return carHeaderOf([root]);
}

/** The CAR header naming `roots` (fewer than 24). */
export function carHeaderOf(roots: CID[]): Uint8Array {
  const links = roots.flatMap((cid) => {
    const bytes = cid.bytes;
    // tag(42), bytes(n + 1): the 0x00 multibase prefix + the CID; the length in its shortest form (strict CBOR)
    const n = bytes.length + 1;
    return [0xd8, 0x2a, ...(n < 24 ? [0x40 + n] : [0x58, n]), 0x00, ...bytes];
  });
  const body = [
    0xa2, // map(2)
    0x65,
    ...new TextEncoder().encode("roots"),
    0x80 + roots.length, // array(n)
    ...links,
    0x67,
    ...new TextEncoder().encode("version"),
    0x01,
  ];
  return withLength(Uint8Array.from(body));
}

function withLength(payload: Uint8Array): Uint8Array {
  const len = varint.encodeTo(payload.byteLength, new Uint8Array(varint.encodingLength(payload.byteLength)));
  const out = new Uint8Array(len.byteLength + payload.byteLength);
  out.set(len);
  out.set(payload, len.byteLength);
  return out;
}

/**
 * A block read from the store and the head of its CAR section (length and CID), sent as two chunks so that the block's
 * bytes go out as read, without a copy. Identity blocks have no section (their bytes are in the CID).
 */
async function readSection(store: DiskBlockstore, cid: CID): Promise<{ head?: Uint8Array; bytes: Uint8Array }> {
  const bytes = await readBlock(store, cid);
  if (cid.multihash.code === IDENTITY) return { bytes };
  const total = cid.bytes.byteLength + bytes.byteLength;
  const head = new Uint8Array(varint.encodingLength(total) + cid.bytes.byteLength);
  varint.encodeTo(total, head);
  head.set(cid.bytes, head.byteLength - cid.bytes.byteLength);
  return { head, bytes };
}

// Blocks read ahead of the one being sent: the next ones the depth-first walk will pop.
const CAR_READ_AHEAD = 8;

function linksOf(cid: CID, bytes: Uint8Array): CID[] {
  return cid.code === DAG_PB ? decodePb(bytes).Links.map((l) => l.Hash) : [];
}

/**
 * A CARv1 of `target`'s whole DAG in depth-first order without duplicates, after the blocks on the path from `root`.
 * A missing block ends the stream with an error (the connection drops): the spec's "terminate the stream".
 */
export function carStream(root: CID, pathCids: CID[], target: CID, store: DiskBlockstore): ReadableStream<Uint8Array> {
  const seen = new Set<string>();
  const reading = new Map<string, ReturnType<typeof readSection>>();
  const read = (cid: CID, key = keyOf(cid)) => {
    let next = reading.get(key);
    if (!next) {
      next = readSection(store, cid);
      // Awaited when its turn comes; a read ahead that is never reached (the stream ended) must not be unhandled.
      next.catch(() => {});
      reading.set(key, next);
    }
    return next;
  };
  async function* sections(): AsyncGenerator<Uint8Array> {
    yield carHeader(root);
    for (const cid of pathCids) {
      seen.add(keyOf(cid));
      const { head, bytes } = await readSection(store, cid);
      if (head) yield* [head, bytes];
    }
    const stack: CID[] = [target];
    while (stack.length > 0) {
      const cid = stack.pop()!;
      const key = keyOf(cid);
      if (seen.has(key)) continue;
      seen.add(key);
      for (let i = stack.length - 1; i >= Math.max(0, stack.length - CAR_READ_AHEAD); i--) {
        const ahead = keyOf(stack[i]);
        if (!seen.has(ahead)) read(stack[i], ahead);
      }
      const { head, bytes } = await read(cid, key);
      reading.delete(key);
      // The spec: identity blocks MUST NOT be sent (their bytes are in the CID).
      if (head) yield* [head, bytes];
      const links = linksOf(cid, bytes);
      for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]);
    }
  }
  return ReadableStream.from(sections());
}

/** `legacy_car`: no roots in the header, every block after its children, duplicates each time they occur. */
function legacyCarStream(target: CID, store: DiskBlockstore): ReadableStream<Uint8Array> {
  async function* sections(): AsyncGenerator<Uint8Array> {
    yield carHeaderOf([]);
    async function* postOrder(cid: CID): AsyncGenerator<Uint8Array> {
      const { head, bytes } = await readSection(store, cid);
      for (const link of linksOf(cid, bytes)) yield* postOrder(link);
      if (head) yield* [head, bytes];
    }
    yield* postOrder(target);
  }
  return ReadableStream.from(sections());
}

function htmlListing(path: string, names: string[]): Response {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const items = names.map((n) => `<li><a href="${esc(path)}/${esc(encodeURIComponent(n))}">${esc(n)}</a></li>`);
  const html = `<!DOCTYPE html><html><head><title>${esc(path)}</title></head><body><ul>${items.join("")}</ul></body>` +
    `</html>\n`;
  return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
}

function keyOf(cid: CID): string {
  return `${cid.code}:${cid.multihash.bytes.join(",")}`;
}

function text(status: number, message: string): Response {
  return new Response(message + "\n", { status, headers: { "content-type": "text/plain" } });
}
