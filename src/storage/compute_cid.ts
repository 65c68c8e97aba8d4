/** Computes CIDs locally with the importer settings of a known profile; blocks are hashed, not kept. */
import { type ImportCandidate, importer, type ImporterOptions } from "ipfs-unixfs-importer";
import type { CID } from "multiformats/cid";
import { type CidProfile, importerOptionsFor, profileImporterOptions } from "./cid_profile.ts";
import { type OutputTree, scanOutput } from "./output_tree.ts";

/** A blockstore that discards blocks: only the CIDs are wanted. */
const discard = { put: (cid: CID) => Promise.resolve(cid) };

/** Options for CID computation. */
export interface ComputeCidOptions {
  /** CID version as the service is asked for (`pinataOptions.cidVersion`); default 1. */
  cidVersion?: 0 | 1;
  /** The importer profile; overrides `cidVersion` (default: the service's profile for that version). */
  profile?: CidProfile;
  /** Importer options overriding the profile (tests only). */
  importer?: ImporterOptions;
  signal?: AbortSignal;
}

/** Reads a file as a stream of chunks (the importer re-chunks them). */
async function* fileChunks(path: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  while (true) {
    signal?.throwIfAborted();
    // Fresh memory each read, handed on as it is: the chunker cuts it into leaves without copying.
    const buf = new Uint8Array(1024 * 1024);
    const n = await file.read(buf);
    if (n === null) return;
    yield n === buf.byteLength ? buf : buf.subarray(0, n);
  }
}

/**
 * The import candidates for a scanned output directory, rooted at `rootName`. Only files are listed, as in a Pinata
 * multipart upload (which has no parts for directories): empty subdirectories are not part of the uploaded DAG.
 */
export function candidatesFor(
  dir: string,
  tree: OutputTree,
  rootName: string,
  signal?: AbortSignal,
): ImportCandidate[] {
  if (tree.files === 0) return [{ path: rootName }];
  return tree.entries.filter((e) => e.kind === "file").map((e) => ({
    path: `${rootName}/${e.path}`,
    content: fileChunks(`${dir}/${e.path}`, signal),
  }));
}

/** The CID of a directory as uploaded: the directory itself (not wrapped), files and subdirectories included. */
export async function computeDirectoryCid(dir: string, options: ComputeCidOptions = {}): Promise<CID> {
  const tree = await scanOutput(dir, { maxBytes: Number.MAX_SAFE_INTEGER });
  return await computeTreeCid(dir, tree, options);
}

/** The CID of an already scanned directory. */
export async function computeTreeCid(dir: string, tree: OutputTree, options: ComputeCidOptions = {}): Promise<CID> {
  return await rootCid(candidatesFor(dir, tree, "root", options.signal), options, dir);
}

/** The CID of a small directory held in memory (relative path → bytes), e.g. a probe upload. */
export async function computeMemoryTreeCid(
  files: Record<string, Uint8Array>,
  options: ComputeCidOptions = {},
): Promise<CID> {
  const candidates = Object.entries(files).map(([path, bytes]) => ({ path: `root/${path}`, content: bytes }));
  return await rootCid(candidates.length === 0 ? [{ path: "root" }] : candidates, options, "a memory tree");
}

async function rootCid(candidates: ImportCandidate[], options: ComputeCidOptions, what: string): Promise<CID> {
  let last: CID | undefined;
  for await (const entry of importer(candidates, discard, optionsOf(options))) {
    if (entry.path === "root") last = entry.cid;
  }
  if (!last) throw new Error(`The importer produced no root for ${what}`);
  return last;
}

function optionsOf(options: ComputeCidOptions): ImporterOptions {
  const base = options.profile ? profileImporterOptions(options.profile) : importerOptionsFor(options.cidVersion ?? 1);
  return { ...base, ...options.importer, wrapWithDirectory: false };
}

/** The CID of one file's content, as `ipfs add` would give it. */
export async function computeFileCid(path: string, options: ComputeCidOptions = {}): Promise<CID> {
  const opts = optionsOf(options);
  let last: CID | undefined;
  for await (const entry of importer([{ content: fileChunks(path, options.signal) }], discard, opts)) last = entry.cid;
  if (!last) throw new Error(`The importer produced no CID for ${path}`);
  return last;
}
