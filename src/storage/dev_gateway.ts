/** The trustless-gateway half of the local IPFS service: `/ipfs/<cid>[/path]` as CAR, raw block, or file bytes. */
import { decode as decodePb } from "@ipld/dag-pb";
import { exporter, walkPath } from "ipfs-unixfs-exporter";
import { CID } from "multiformats/cid";
import { varint } from "multiformats";
import { DAG_PB } from "./block_verify.ts";
import { BlockNotFoundError, type DiskBlockstore } from "./disk_blockstore.ts";

const CAR = "application/vnd.ipld.car";
const RAW = "application/vnd.ipld.raw";

/** Answers `GET /ipfs/...` from `store`. */
export async function handleGateway(req: Request, url: URL, store: DiskBlockstore): Promise<Response> {
  const parts = url.pathname.split("/").filter((p) => p !== "").slice(1).map(decodeURIComponent);
  let root: CID;
  try {
    root = CID.parse(parts[0] ?? "");
  } catch {
    return text(400, "invalid CID");
  }
  const subPath = parts.slice(1);
  const accept = req.headers.get("accept") ?? "";
  const format = url.searchParams.get("format") ?? (accept.includes(CAR) ? "car" : accept.includes(RAW) ? "raw" : "");
  // deno-lint-ignore no-explicit-any
  const blocks = store as any;
  try {
    if (format === "raw") {
      if (subPath.length > 0) return text(400, "format=raw takes no path");
      const bytes = await store.read(root);
      return new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": RAW, "content-length": String(bytes.byteLength) },
      });
    }
    if (format === "car") {
      const pathCids: CID[] = [];
      let target = root;
      if (subPath.length > 0) {
        for await (const entry of walkPath(`${root}/${subPath.join("/")}`, blocks)) pathCids.push(entry.cid);
        target = pathCids.pop()!;
      } else {
        await store.read(root); // 404 before the 200 is sent
      }
      return new Response(carStream(root, pathCids, target, store), {
        headers: { "content-type": `${CAR};version=1;order=dfs;dups=n`, "x-ipfs-roots": root.toString() },
      });
    }
    if (format !== "") return text(400, `unsupported format ${format}`);
    const entry = await exporter(`${root}${subPath.length ? "/" + subPath.join("/") : ""}`, blocks);
    if (entry.type === "directory") {
      const names: string[] = [];
      for await (const e of entry.entries()) names.push(e.name);
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

/** The CAR header for one root: dag-cbor `{roots: [root], version: 1}`, length-prefixed. */
export function carHeader(root: CID): Uint8Array {
  const cidBytes = root.bytes;
  const body = [
    0xa2, // map(2)
    0x65,
    ...new TextEncoder().encode("roots"),
    0x81, // array(1)
    0xd8,
    0x2a, // tag(42)
    0x58,
    cidBytes.length + 1,
    0x00,
    ...cidBytes, // bytes: 0x00 multibase prefix + CID
    0x67,
    ...new TextEncoder().encode("version"),
    0x01,
  ];
  return withLength(Uint8Array.from(body));
}

function withLength(payload: Uint8Array, prefix?: Uint8Array): Uint8Array {
  const total = payload.byteLength + (prefix?.byteLength ?? 0);
  const len = varint.encodeTo(total, new Uint8Array(varint.encodingLength(total)));
  const out = new Uint8Array(len.byteLength + total);
  out.set(len);
  if (prefix) out.set(prefix, len.byteLength);
  out.set(payload, len.byteLength + (prefix?.byteLength ?? 0));
  return out;
}

/** A CARv1 of `target`'s whole DAG in depth-first order, after the blocks on the path from `root`. */
export function carStream(root: CID, pathCids: CID[], target: CID, store: DiskBlockstore): ReadableStream<Uint8Array> {
  const seen = new Set<string>();
  async function* sections(): AsyncGenerator<Uint8Array> {
    yield carHeader(root);
    for (const cid of pathCids) {
      seen.add(keyOf(cid));
      yield withLength(await store.read(cid), cid.bytes);
    }
    const stack: CID[] = [target];
    while (stack.length > 0) {
      const cid = stack.pop()!;
      const key = keyOf(cid);
      if (seen.has(key)) continue;
      seen.add(key);
      const bytes = await store.read(cid);
      yield withLength(bytes, cid.bytes);
      if (cid.code === DAG_PB) {
        const links = decodePb(bytes).Links;
        for (let i = links.length - 1; i >= 0; i--) stack.push(links[i].Hash);
      }
    }
  }
  return ReadableStream.from(sections());
}

function keyOf(cid: CID): string {
  return `${cid.code}:${cid.multihash.bytes.join(",")}`;
}

function text(status: number, message: string): Response {
  return new Response(message + "\n", { status, headers: { "content-type": "text/plain" } });
}
