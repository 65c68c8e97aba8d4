/**
 * The local IPFS service: the part of Pinata's legacy API the agent uses (`pinFileToIPFS`, `unpin`,
 * `testAuthentication`) and a trustless gateway, over a blockstore on disk. For local networks and tests.
 *
 * Modes replay what a real service may do differently: `profile` builds CIDv1 uploads under another IPIP-0499
 * importer profile (Pinata does not publish its settings), and `scopedKeys` are keys limited to some legacy endpoint
 * scopes, as Pinata's key form offers (`endpoints.pinning.pinFileToIPFS`, `endpoints.pinning.unpin`).
 */
import { type ImportCandidate, importer } from "ipfs-unixfs-importer";
import type { Logger } from "../log/mod.ts";
import { CID_PROFILES, type CidProfile, type CidProfileName, profileImporterOptions } from "./cid_profile.ts";
import { fileChunks } from "./compute_cid.ts";
import { handleGateway } from "./dev_gateway.ts";
import { DiskBlockstore } from "./disk_blockstore.ts";
import { boundaryOf, MultipartError, readMultipart } from "./multipart_reader.ts";

/** Options for {@linkcode startDevIpfs}. */
export interface DevIpfsOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Where blocks and upload temp files live. */
  dataDir: string;
  /** The bearer token the pinning API accepts, with every scope (an admin key). */
  jwt: string;
  /** Further tokens, each allowed only the listed legacy endpoints (testAuthentication needs no scope). */
  scopedKeys?: Record<string, readonly PinataScope[]>;
  /** The importer profile for `cidVersion: 1` uploads; default `kubo-cidv1` (Kubo `add --cid-version=1`). */
  profile?: Exclude<CidProfileName, "unixfs-v0-2015">;
  hostname?: string;
  logger?: Logger;
}

/** A legacy endpoint scope of a Pinata API key. */
export type PinataScope = "pinFileToIPFS" | "unpin";

/** A running local IPFS service. */
export interface DevIpfs {
  /** Base URL, e.g. `http://127.0.0.1:5080`: API and gateway share it. */
  url: string;
  port: number;
  /** Stops the server and waits for it to finish. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the service. */
export async function startDevIpfs(options: DevIpfsOptions): Promise<DevIpfs> {
  const store = await new DiskBlockstore(`${options.dataDir}/blocks`).open();
  const tmpRoot = `${options.dataDir}/tmp`;
  await Deno.mkdir(tmpRoot, { recursive: true });
  const log = options.logger?.child({ component: "ipfs-dev" });
  log?.redactor.add(options.jwt);
  for (const key of Object.keys(options.scopedKeys ?? {})) log?.redactor.add(key);
  const keys = new Keys(options.jwt, options.scopedKeys ?? {});
  /** CIDs pinned (and not unpinned) since the service started. */
  const pins = new Set<string>();
  const server = Deno.serve({
    port: options.port,
    hostname: options.hostname ?? "127.0.0.1",
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    try {
      if (req.method === "GET" && url.pathname.startsWith("/ipfs/")) return await handleGateway(req, url, store);
      if (url.pathname === "/data/testAuthentication" && req.method === "GET") {
        if (!keys.scopes(req)) return unauthorized();
        return Response.json({ message: "Congratulations! You are communicating with the Pinata API!" });
      }
      if (url.pathname === "/pinning/pinFileToIPFS" && req.method === "POST") {
        const refusal = keys.refuse(req, "pinFileToIPFS");
        if (refusal) {
          await req.body?.cancel();
          return refusal;
        }
        const profile = CID_PROFILES[options.profile ?? "kubo-cidv1"];
        return await pinFile(req, { store, tmpRoot, log, profile, pins });
      }
      if (url.pathname.startsWith("/pinning/unpin/") && req.method === "DELETE") {
        const refusal = keys.refuse(req, "unpin");
        if (refusal) return refusal;
        const cid = decodeURIComponent(url.pathname.slice("/pinning/unpin/".length));
        // Like Pinata, only the pin goes; blocks stay (nothing here collects garbage).
        if (!pins.delete(cid)) {
          return Response.json({ error: { reason: "CURRENT_USER_HAS_NOT_PINNED_CID" } }, { status: 400 });
        }
        return new Response("OK");
      }
      return Response.json({ error: "not found" }, { status: 404 });
    } catch (error) {
      log?.warn("request failed", { path: url.pathname, error });
      const status = error instanceof MultipartError || error instanceof BadRequest ? 400 : 500;
      return Response.json({ error: (error as Error).message }, { status });
    }
  });
  const { port } = server.addr as Deno.NetAddr;
  const url = `http://${options.hostname ?? "127.0.0.1"}:${port}`;
  log?.info("local IPFS service listening", { url });
  const close = async () => {
    await server.shutdown().catch(() => {});
  };
  return { url, port, close, [Symbol.asyncDispose]: close };
}

class BadRequest extends Error {
  override name = "BadRequest";
}

/** The keys the service accepts and what each may do. */
class Keys {
  #keys: [string, readonly PinataScope[] | "admin"][];
  constructor(admin: string, scoped: Record<string, readonly PinataScope[]>) {
    this.#keys = [[admin, "admin"], ...Object.entries(scoped)];
  }

  /** The scopes of the request's bearer token; undefined for an unknown token. */
  scopes(req: Request): readonly PinataScope[] | "admin" | undefined {
    const got = req.headers.get("authorization") ?? "";
    return this.#keys.find(([key]) => sameText(got, `Bearer ${key}`))?.[1];
  }

  /** An error answer when the token is unknown (401) or lacks `scope` (403), else undefined. */
  refuse(req: Request, scope: PinataScope): Response | undefined {
    const scopes = this.scopes(req);
    if (scopes === undefined) return unauthorized();
    if (scopes === "admin" || scopes.includes(scope)) return undefined;
    // Pinata's exact answer for a missing scope is not documented; the agent treats 401 and 403 alike.
    return Response.json({ error: { reason: "NO_SCOPES_FOUND", details: `This key lacks the ${scope} scope` } }, {
      status: 403,
    });
  }
}

function sameText(got: string, want: string): boolean {
  // Compare without an early exit on the first differing byte.
  let diff = got.length ^ want.length;
  for (let i = 0; i < want.length; i++) diff |= (got.charCodeAt(i) | 0) ^ want.charCodeAt(i);
  return diff === 0;
}

function unauthorized(): Response {
  return Response.json({ error: { reason: "INVALID_CREDENTIALS", details: "Invalid/expired credentials" } }, {
    status: 401,
  });
}

function safeRelative(name: string): string {
  const segs = name.split("/");
  if (name.startsWith("/") || segs.some((s) => s === "" || s === "." || s === ".." || s.includes("\0"))) {
    throw new BadRequest(`Unsafe file name ${JSON.stringify(name.slice(0, 100))}`);
  }
  return name;
}

interface PinContext {
  store: DiskBlockstore;
  tmpRoot: string;
  log: Logger | undefined;
  /** The importer profile of CIDv1 uploads. */
  profile: CidProfile;
  pins: Set<string>;
}

async function pinFile(req: Request, { store, tmpRoot, log, profile, pins }: PinContext): Promise<Response> {
  const boundary = boundaryOf(req.headers.get("content-type"));
  if (!req.body) throw new BadRequest("Empty body");
  const tmp = await Deno.makeTempDir({ dir: tmpRoot });
  try {
    const files: { path: string; tmp: string }[] = [];
    const dirs: string[] = [];
    let pinOptions: { cidVersion?: number; wrapWithDirectory?: boolean } = {};
    for await (const part of readMultipart(req.body, boundary)) {
      if (part.name === "pinataOptions" || part.name === "pinataMetadata") {
        const raw = await collectText(part.body, 64 * 1024);
        let parsed;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw new BadRequest(`${part.name} is not JSON`);
        }
        if (part.name === "pinataOptions") pinOptions = parsed ?? {};
        continue;
      }
      if (part.name !== "file" || part.filename === undefined) {
        for await (const _ of part.body) { /* ignore unknown fields */ }
        continue;
      }
      const path = safeRelative(part.filename);
      if (part.contentType === "application/x-directory") {
        for await (const _ of part.body) { /* a directory has no content */ }
        dirs.push(path);
        continue;
      }
      const tmpFile = `${tmp}/${files.length}`;
      using file = await Deno.open(tmpFile, { write: true, createNew: true });
      for await (const chunk of part.body) {
        let off = 0;
        while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
      }
      files.push({ path, tmp: tmpFile });
    }
    if (files.length === 0 && dirs.length === 0) throw new BadRequest("No files were uploaded");
    const cidVersion = pinOptions.cidVersion === 1 ? 1 : 0;
    const wrap = pinOptions.wrapWithDirectory === true;
    const tops = new Set([...files.map((f) => f.path), ...dirs].map((p) => p.split("/")[0]));
    const nested = [...files.map((f) => f.path), ...dirs].every((p) => p.includes("/") || dirs.includes(p));
    // Pinata pins the common top-level directory when every file sits below one; otherwise a single file.
    const rootPath = wrap
      ? ""
      : tops.size === 1 && nested
      ? [...tops][0]
      : files.length === 1
      ? files[0].path
      : undefined;
    if (rootPath === undefined) throw new BadRequest("Several files without a common directory need wrapWithDirectory");
    const candidates: ImportCandidate[] = [
      ...dirs.map((path) => ({ path })),
      ...files.map((f) => ({ path: f.path, content: fileChunks(f.tmp) })),
    ];
    const opts = {
      ...profileImporterOptions(cidVersion === 1 ? profile : CID_PROFILES["unixfs-v0-2015"]),
      wrapWithDirectory: wrap,
    };
    let root: { cid: string; size: bigint } | undefined;
    // deno-lint-ignore no-explicit-any
    for await (const entry of importer(candidates, store as any, opts)) {
      if ((entry.path ?? "") === rootPath) root = { cid: entry.cid.toString(), size: entry.size };
    }
    if (!root) throw new BadRequest("The upload produced no root");
    pins.add(root.cid);
    log?.info("pinned", { cid: root.cid, files: files.length, profile: cidVersion === 1 ? profile.name : undefined });
    return Response.json({ IpfsHash: root.cid, PinSize: Number(root.size), Timestamp: new Date().toISOString() });
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function collectText(body: AsyncIterable<Uint8Array>, max: number): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.byteLength;
    if (size > max) throw new BadRequest("Field too large");
    parts.push(c.slice());
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return new TextDecoder().decode(out);
}
