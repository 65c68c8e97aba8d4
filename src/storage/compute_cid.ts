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

/** Reads a file from `offset` on as a stream of chunks (the importer re-chunks them). */
export async function* fileChunks(path: string, signal?: AbortSignal, offset = 0): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
  while (true) {
    signal?.throwIfAborted();
    // Fresh memory each read, handed on as it is: the chunker cuts it into leaves without copying.
    const buf = new Uint8Array(1024 * 1024);
    const n = await file.read(buf);
    if (n === null) return;
    yield n === buf.byteLength ? buf : buf.subarray(0, n);
  }
}

/** Where the importer gets a file's content: its path under `dir` → chunks. */
type ContentSource = (path: string, signal?: AbortSignal) => AsyncIterable<Uint8Array>;

/**
 * The import candidates for a scanned output directory, rooted at `rootName`. Only files are listed, as in a Pinata
 * multipart upload (which has no parts for directories): empty subdirectories are not part of the uploaded DAG.
 */
export function candidatesFor(
  dir: string,
  tree: OutputTree,
  rootName: string,
  signal?: AbortSignal,
  source: ContentSource = fileChunks,
): ImportCandidate[] {
  if (tree.files === 0) return [{ path: rootName }];
  return tree.entries.filter((e) => e.kind === "file").map((e) => ({
    path: `${rootName}/${e.path}`,
    content: source(`${dir}/${e.path}`, signal),
  }));
}

/** Bytes handed to a {@linkcode CidTap} and not yet taken by the importer (all files together), before `feed` waits. */
export const TAP_QUEUE_BYTES = 8 * 1024 * 1024;

/**
 * A tree's CID computed from the bytes another reader of its files hands over as it reads them (an upload's body),
 * so that each byte is read from disk once. Files must be fed in the tree's order (the order of
 * {@linkcode candidatesFor}, which the upload's parts share), each from offset 0 on. Once {@linkcode detach}ed — the
 * reader is done, failed or gave up — whatever it did not hand over is read from disk here. Memory is bounded:
 * {@linkcode feed} waits while {@linkcode TAP_QUEUE_BYTES} handed over wait for the importer. (The importer takes
 * files in batches, in order; every file before the one being fed has been fed whole, so its batch always finishes.)
 */
export class CidTap {
  /** The tree's CID under the options' profile; rejects on abort or a read error. */
  readonly cid: Promise<CID>;
  #files = new Map<string, TapFile>();
  #open = true;
  #queued = 0;
  #room = Promise.withResolvers<void>();

  constructor(dir: string, tree: OutputTree, options: ComputeCidOptions = {}) {
    const closed = () => !this.#open;
    const taken = (n: number) => {
      this.#queued -= n;
      this.#wakeFeeder();
    };
    for (const e of tree.entries) {
      const path = `${dir}/${e.path}`;
      if (e.kind === "file") this.#files.set(path, new TapFile(path, e.size, closed, taken));
    }
    const onAbort = () => this.detach();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const source: ContentSource = (path, signal) => this.#files.get(path)!.content(signal);
    this.cid = rootCid(candidatesFor(dir, tree, "root", options.signal, source), options, dir).finally(() => {
      options.signal?.removeEventListener("abort", onAbort);
      this.detach();
    });
    this.cid.catch(() => {});
  }

  /**
   * Hands over `bytes`, read from the file at `path` at `offset`; resolves once the tap has room for more. Bytes that
   * are not the next ones of that file (a retry sending the file again) and bytes fed after {@linkcode detach} are
   * ignored. The tap keeps `bytes`: the caller must not write into them afterwards.
   */
  feed = async (path: string, offset: number, bytes: Uint8Array): Promise<void> => {
    const file = this.#files.get(path);
    if (!this.#open || !file || offset !== file.fed) return;
    this.#queued += bytes.byteLength;
    file.push(bytes);
    while (this.#queued >= TAP_QUEUE_BYTES && this.#open) await this.#room.promise;
  };

  /** The reader hands over nothing more: the importer reads the rest from disk. Idempotent. */
  detach(): void {
    if (!this.#open) return;
    this.#open = false;
    for (const file of this.#files.values()) file.wake();
    this.#wakeFeeder();
  }

  #wakeFeeder(): void {
    this.#room.resolve();
    this.#room = Promise.withResolvers<void>();
  }
}

/** One file's hand-over queue. */
class TapFile {
  /** Bytes handed over so far (the offset the next `push` must start at). */
  fed = 0;
  #queue: Uint8Array[] = [];
  #data = Promise.withResolvers<void>();

  constructor(
    readonly path: string,
    readonly size: number,
    readonly closed: () => boolean,
    readonly taken: (n: number) => void,
  ) {}

  push(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.fed += bytes.byteLength;
    this.wake();
  }

  /** The importer, if it waits for bytes, looks again. */
  wake(): void {
    this.#data.resolve();
    this.#data = Promise.withResolvers<void>();
  }

  /** The file's content: handed-over chunks while they come, then (once closed) the rest from disk. */
  async *content(signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let offset = 0;
    while (offset < this.size) {
      signal?.throwIfAborted();
      const next = this.#queue.shift();
      if (next) {
        offset += next.byteLength;
        this.taken(next.byteLength);
        yield next;
      } else if (this.closed()) {
        yield* fileChunks(this.path, signal, offset);
        return;
      } else {
        await this.#data.promise;
      }
    }
  }
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
