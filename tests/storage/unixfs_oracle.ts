/**
 * The tests' oracle for output CIDs: a small UnixFS builder written from the UnixFS and dag-pb specs, not with
 * ipfs-unixfs-importer and not from the agent's profile table, so a drift of the agent's importer settings shows.
 * Its parameters are Kubo's as Kubo's own output shows them: `unixfs_oracle_test.ts` checks it against the Kubo-made
 * gateway-conformance CARs, the Kubo test vectors of IPIP-0499 and Debian's independent `ipfs_cid`.
 *
 * Scope: fixed-size chunks, the balanced layout, raw or dag-pb leaves, basic directories (no HAMT: it throws when a
 * directory would need sharding), no mode/mtime. Directories holding no file are left out, as a multipart upload
 * (parts for files only) cannot carry them.
 */
import { createHash } from "node:crypto";
import { encode as encodePb, type PBLink } from "@ipld/dag-pb";
import { CID } from "multiformats/cid";
import { create as createDigest } from "multiformats/hashes/digest";

/** The parameters that decide a CID. */
export interface OracleProfile {
  cidVersion: 0 | 1;
  rawLeaves: boolean;
  chunkSize: number;
  /** Children per file node. */
  maxLinks: number;
}

/** Kubo `add --cid-version=1`: the profile Pinata is expected to use. */
export const KUBO_CIDV1: OracleProfile = { cidVersion: 1, rawLeaves: true, chunkSize: 262_144, maxLinks: 174 };
/** IPIP-0499 `unixfs-v1-2025`. */
export const UNIXFS_V1_2025: OracleProfile = { cidVersion: 1, rawLeaves: true, chunkSize: 1_048_576, maxLinks: 1024 };
/** Kubo's classic defaults, IPIP-0499 `unixfs-v0-2015`. */
export const UNIXFS_V0_2015: OracleProfile = { cidVersion: 0, rawLeaves: false, chunkSize: 262_144, maxLinks: 174 };

/** A built node: its CID, its cumulative DAG size (a parent link's Tsize) and the file bytes below it. */
export interface OracleNode {
  cid: CID;
  tsize: number;
  fileSize: number;
}

const RAW = 0x55;
const DAG_PB = 0x70;
const HAMT_THRESHOLD = 262_144;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** UnixFS `Data` (proto2, fields in number order, `blocksizes` unpacked as Kubo writes it). */
function unixfsData(type: 1 | 2, data?: Uint8Array, fileSize?: number, blockSizes: number[] = []): Uint8Array {
  const head = [0x08, type];
  if (data && data.byteLength > 0) head.push(0x12, ...varint(data.byteLength));
  const tail: number[] = [];
  if (fileSize !== undefined) tail.push(0x18, ...varint(fileSize));
  for (const size of blockSizes) tail.push(0x20, ...varint(size));
  const body = data && data.byteLength > 0 ? data : new Uint8Array(0);
  const out = new Uint8Array(head.length + body.byteLength + tail.length);
  out.set(head);
  out.set(body, head.length);
  out.set(tail, head.length + body.byteLength);
  return out;
}

function cidOf(code: number, block: Uint8Array, version: 0 | 1): CID {
  const digest = createDigest(0x12, new Uint8Array(createHash("sha256").update(block).digest()));
  return version === 0 && code === DAG_PB ? CID.createV0(digest) : CID.createV1(code, digest);
}

function pbNode(data: Uint8Array, links: PBLink[], version: 0 | 1): { cid: CID; size: number } {
  const block = encodePb({ Data: data, Links: links });
  return { cid: cidOf(DAG_PB, block, version), size: block.byteLength };
}

function leaf(chunk: Uint8Array, p: OracleProfile): OracleNode {
  if (p.rawLeaves) return { cid: cidOf(RAW, chunk, p.cidVersion), tsize: chunk.byteLength, fileSize: chunk.byteLength };
  const { cid, size } = pbNode(unixfsData(2, chunk, chunk.byteLength), [], p.cidVersion);
  return { cid, tsize: size, fileSize: chunk.byteLength };
}

function parent(children: OracleNode[], p: OracleProfile): OracleNode {
  const fileSize = children.reduce((n, c) => n + c.fileSize, 0);
  const links = children.map((c) => ({ Hash: c.cid, Name: "", Tsize: c.tsize }));
  const data = unixfsData(2, undefined, fileSize, children.map((c) => c.fileSize));
  const { cid, size } = pbNode(data, links, p.cidVersion);
  return { cid, tsize: size + children.reduce((n, c) => n + c.tsize, 0), fileSize };
}

/** Cuts a byte stream into `size`-byte chunks (the last one shorter; one empty chunk for no bytes). */
async function* fixedChunks(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(size);
  let fill = 0;
  let any = false;
  for await (const piece of source) {
    let off = 0;
    while (off < piece.byteLength) {
      const n = Math.min(size - fill, piece.byteLength - off);
      buf.set(piece.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === size) {
        yield buf;
        any = true;
        buf = new Uint8Array(size);
        fill = 0;
      }
    }
  }
  if (fill > 0 || !any) yield buf.subarray(0, fill);
}

/**
 * A file's DAG: one leaf per chunk, grouped `maxLinks` at a time level by level until one root is left, so every leaf
 * sits at the same depth (Kubo's balanced layout); a single chunk is the leaf itself.
 */
export async function oracleFile(
  content: AsyncIterable<Uint8Array> | Uint8Array,
  p: OracleProfile,
): Promise<OracleNode> {
  const source = content instanceof Uint8Array
    ? (async function* () {
      yield content;
    })()
    : content;
  let level: OracleNode[] = [];
  for await (const chunk of fixedChunks(source, p.chunkSize)) level.push(leaf(chunk, p));
  if (level.length === 1) return level[0];
  while (level.length > 1) {
    const next: OracleNode[] = [];
    for (let i = 0; i < level.length; i += p.maxLinks) next.push(parent(level.slice(i, i + p.maxLinks), p));
    level = next;
  }
  return level[0];
}

/** A basic UnixFS directory over named children (sorted by the bytes of their names, as UnixFS requires). */
export function oracleDirectory(entries: [string, OracleNode][], p: OracleProfile): OracleNode {
  const enc = new TextEncoder();
  const sorted = [...entries].sort(([a], [b]) => compareBytes(enc.encode(a), enc.encode(b)));
  const linksBytes = sorted.reduce((n, [name, c]) => n + enc.encode(name).byteLength + c.cid.bytes.byteLength, 0);
  const links = sorted.map(([name, c]) => ({ Hash: c.cid, Name: name, Tsize: c.tsize }));
  const { cid, size } = pbNode(unixfsData(1), links, p.cidVersion);
  if (size > HAMT_THRESHOLD || linksBytes > HAMT_THRESHOLD) {
    throw new Error("The oracle builds no HAMT-sharded directories: keep test directories small");
  }
  return { cid, tsize: size + sorted.reduce((n, [, c]) => n + c.tsize, 0), fileSize: 0 };
}

/** The CID of a directory on disk as an upload of its files gives it (directories without files left out). */
export async function oracleTreeCid(dir: string, p: OracleProfile): Promise<string> {
  return ((await walk(dir, p)) ?? oracleDirectory([], p)).cid.toString();
}

async function walk(dir: string, p: OracleProfile): Promise<OracleNode | undefined> {
  const entries: [string, OracleNode][] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) {
      const sub = await walk(path, p);
      if (sub) entries.push([e.name, sub]);
    } else if (e.isFile) {
      entries.push([e.name, await oracleFile(readFile(path), p)]);
    } else {
      throw new Error(`The oracle takes regular files and directories only: ${path}`);
    }
  }
  return entries.length === 0 ? undefined : oracleDirectory(entries, p);
}

async function* readFile(path: string): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path);
  while (true) {
    const buf = new Uint8Array(1 << 20);
    const n = await file.read(buf);
    if (n === null) return;
    yield buf.subarray(0, n);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
