/** Walks a verified UnixFS DAG and writes it to disk: a file as `<dir>/input`, a directory as its tree. */
import { decode as decodePb, type PBNode } from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { exporter, type UnixFSEntry } from "ipfs-unixfs-exporter";
import type { CID } from "multiformats/cid";
import { codecName, DAG_PB, RAW } from "./block_verify.ts";
import { describeName, entryNameProblem } from "./entry_name.ts";
import { StorageError } from "./errors.ts";

/** Limits on what an input may expand to. */
export interface ExportLimits {
  /** Most decoded file bytes in total. */
  maxBytes: number;
  /** Most directory entries (files and directories) in total. */
  maxEntries: number;
}

/** What was written. */
export interface ExportResult {
  bytes: number;
  files: number;
}

/** Where a block's bytes already are in a file this export (or an earlier attempt of it) wrote. */
export interface Placement {
  path: string;
  offset: number;
  length: number;
}

/**
 * The blockstore the exporter reads from. The optional parts let a file be written straight from arriving blocks and
 * resumed from a partly written one: a leaf (a raw block, or a dag-pb block without links) written into a file is
 * `place`d there, and a leaf already `placed` where the file needs it is not read or written again.
 */
export interface ReadableBlocks {
  /**
   * `ahead`: a read-ahead, not waited on yet (then {@linkcode need} when it is). `lend`: each block read is
   * {@linkcode release}d exactly once, after which its memory may hold another block.
   */
  get(cid: CID, options?: { signal?: AbortSignal; ahead?: boolean; lend?: boolean }): AsyncGenerator<Uint8Array>;
  /** Awaits a read-ahead that is now what the exporter waits on. */
  need?<T>(pending: Promise<T>): Promise<T>;
  placed?(cid: CID): Placement | undefined;
  /** `data`: the leaf's file bytes as written (a raw block's bytes; a dag-pb leaf's UnixFS data, a view of it). */
  place?(cid: CID, path: string, offset: number, data: Uint8Array): void;
  /** The exporter is done with `bytes`, read for `cid`: their memory may be used again. */
  release?(cid: CID, bytes: Uint8Array): void;
}

/** The file name a single-file CID gets inside the input directory (docs/wire-contract.md §4). */
export const SINGLE_FILE_NAME = "input";

/** Throws unless `name` can travel intact (the same rule as output names: {@linkcode entryNameProblem}). */
export function checkEntryName(name: string): void {
  const problem = entryNameProblem(name);
  if (problem) {
    throw new StorageError(
      "input_fetch_failed",
      "unsafe_name",
      `Refusing input directory entry ${describeName(name)}: the name ${problem}`,
    );
  }
}

/** Exports `cid` from `blocks` into `destDir` (which must exist and be empty). */
export async function exportToDir(
  cid: CID,
  blocks: ReadableBlocks,
  destDir: string,
  limits: ExportLimits,
  signal: AbortSignal,
): Promise<ExportResult> {
  const state: State = { bytes: 0, files: 0, entries: 0, root: destDir, made: new Set() };
  // deno-lint-ignore no-explicit-any
  const root = await exporter(cid, blocks as any, { signal });
  if (root.type === "directory") {
    await writeDirectory(root, blocks, destDir, limits, state, signal);
  } else {
    await writeFile(root, blocks, `${destDir}/${SINGLE_FILE_NAME}`, limits, state, signal);
  }
  return { bytes: state.bytes, files: state.files };
}

type State = {
  bytes: number;
  files: number;
  entries: number;
  root: string;
  /** Paths this export made: a second entry with one of them is a duplicate link; others are an earlier attempt's. */
  made: Set<string>;
};

/** An entry's path inside the input, for messages. */
function shown(path: string, state: State): string {
  return JSON.stringify(path.slice(state.root.length + 1));
}

async function writeDirectory(
  dir: UnixFSEntry & { type: "directory" },
  blocks: ReadableBlocks,
  path: string,
  limits: ExportLimits,
  state: State,
  signal: AbortSignal,
): Promise<void> {
  for await (const link of dir.entries({ signal })) {
    checkEntryName(link.name);
    if (++state.entries > limits.maxEntries) {
      throw new StorageError(
        "input_fetch_failed",
        "too_large",
        `Input has more than ${limits.maxEntries} directory entries (INPUT_MAX_ENTRIES)`,
      );
    }
    // deno-lint-ignore no-explicit-any
    const entry = await exporter(link.cid, blocks as any, { signal });
    const target = `${path}/${link.name}`;
    if (entry.type === "directory") {
      claim(target, state);
      // An earlier attempt of this retrieval may have made it (the same DAG makes the same tree).
      await Deno.mkdir(target).catch((e) => {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      });
      await writeDirectory(entry, blocks, target, limits, state, signal);
    } else {
      await writeFile(entry, blocks, target, limits, state, signal);
    }
  }
}

async function writeFile(
  entry: UnixFSEntry,
  blocks: ReadableBlocks,
  path: string,
  limits: ExportLimits,
  state: State,
  signal: AbortSignal,
): Promise<void> {
  if (entry.type !== "file" && entry.type !== "raw" && entry.type !== "identity") {
    const what = entry.type === "object"
      ? `an IPLD document (codec ${codecName(entry.cid.code)}), not a UnixFS file or directory`
      : `a ${entry.type} node`;
    throw new StorageError(
      "input_fetch_failed",
      "unsupported",
      `Input entry ${shown(path, state)} (${entry.cid}) is ${what}; only UnixFS files and directories can be placed ` +
        `in /input`,
    );
  }
  if (entry.type === "file" && entry.unixfs.type === "symlink") {
    throw new StorageError(
      "input_fetch_failed",
      "unsupported",
      `Input entry ${shown(path, state)} is a symlink; refused`,
    );
  }
  if (state.bytes + Number(entry.size) > limits.maxBytes) {
    throw new StorageError(
      "input_fetch_failed",
      "too_large",
      `Input exceeds INPUT_MAX_BYTES (${limits.maxBytes} bytes): ${shown(path, state)} alone declares ${entry.size} ` +
        `bytes`,
    );
  }
  claim(path, state);
  // A file an earlier attempt left is written on where it stands: what it placed there is kept.
  let resumed = false;
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o644 }).catch((e) => {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    resumed = true;
    return Deno.open(path, { write: true });
  });
  try {
    const pieces: AsyncIterable<Piece> = entry.type === "file"
      ? fileContent(entry, blocks, path, signal)
      : rawPieces(entry, entry.content({ signal }));
    // `at` is where the next piece goes in the file, `cursor` where the file's position is.
    let at = 0;
    let cursor = 0;
    for await (const piece of pieces) {
      const length = piece.data?.byteLength ?? piece.skip!;
      state.bytes += length;
      if (state.bytes > limits.maxBytes) {
        throw new StorageError(
          "input_fetch_failed",
          "too_large",
          `Input exceeds INPUT_MAX_BYTES (${limits.maxBytes} bytes decoded)`,
        );
      }
      if (piece.data) {
        if (cursor !== at) await file.seek(at, Deno.SeekMode.Start);
        let off = 0;
        while (off < length) off += await file.write(piece.data.subarray(off));
        cursor = at + length;
        if (piece.leaf) {
          blocks.place?.(piece.leaf, path, at, piece.data);
          blocks.release?.(piece.leaf, piece.block ?? piece.data);
        }
      }
      at += length;
    }
    if (resumed) await file.truncate(at);
  } finally {
    file.close();
  }
  state.files++;
}

/** Marks `path` as made by this export; a second entry with it is refused rather than overwritten. */
function claim(path: string, state: State): void {
  if (state.made.has(path)) {
    throw new StorageError(
      "input_fetch_failed",
      "unsafe_name",
      `Refusing input entry ${shown(path, state)}: the directory names it twice`,
    );
  }
  state.made.add(path);
}

/**
 * A part of a file: bytes to write, or a range already written (`skip`). `leaf`: the bytes are that leaf's file data
 * (a raw block whole, or a dag-pb leaf's UnixFS data inside `block`), to be placed once written.
 */
interface Piece {
  data?: Uint8Array;
  leaf?: CID;
  block?: Uint8Array;
  skip?: number;
}

async function* rawPieces(entry: UnixFSEntry, content: AsyncIterable<Uint8Array>): AsyncGenerator<Piece> {
  // A raw-block file is that block: one piece, placed like a raw leaf.
  for await (const data of content) yield { data, leaf: entry.type === "raw" ? entry.cid : undefined };
}

// Blocks asked for ahead of the one being written, per level of a file's tree (the exporter's own walker asks without
// a bound and queues whatever arrives, so a disk slower than the network would pile the file up in memory).
const READ_AHEAD = 8;

/**
 * A UnixFS file's pieces in order, read block by block with a bounded read-ahead, so a slow disk holds the network back
 * instead of letting data queue in memory. A leaf already placed at its offset of `path` (by an earlier attempt) is
 * skipped unread. Checks what the exporter checks: dag-pb or raw children only, one block size per link, and
 * exactly the size the root declares.
 */
async function* fileContent(
  entry: UnixFSEntry & { type: "file" },
  blocks: ReadableBlocks,
  path: string,
  signal: AbortSignal,
): AsyncGenerator<Piece> {
  const wanted = entry.unixfs.fileSize();
  let read = 0n;
  const fetchBlock = async (cid: CID) => {
    const parts: Uint8Array[] = [];
    for await (const part of blocks.get(cid, { signal, ahead: true, lend: true })) parts.push(part);
    return parts.length === 1 ? parts[0] : concat(parts);
  };
  const count = (length: number) => {
    read += BigInt(length);
    if (read > wanted) throw new Error(`File ${entry.cid} holds more bytes than the ${wanted} its root declares`);
  };
  // Placed where the file has it: at this offset of this path, with the size the parent declares for it.
  const placedHere = (cid: CID, offset: bigint, size: bigint) => {
    if (cid.code !== RAW && cid.code !== DAG_PB) return undefined;
    const at = blocks.placed?.(cid);
    return at && at.path === path && BigInt(at.offset) === offset && BigInt(at.length) === size ? at : undefined;
  };
  interface Ahead {
    bytes?: Promise<Uint8Array>;
    settled: boolean;
  }
  // `self`: the node's CID and (below the root) its block, placed when the node is a leaf.
  async function* walk(node: PBNode, unixfs: UnixFS, self: { cid: CID; block?: Uint8Array }): AsyncGenerator<Piece> {
    if (unixfs.data !== undefined && unixfs.data.byteLength > 0) {
      count(unixfs.data.byteLength);
      yield node.Links.length === 0 ? { data: unixfs.data, leaf: self.cid, block: self.block } : { data: unixfs.data };
    }
    if (node.Links.length !== unixfs.blockSizes.length) throw new Error("Inconsistent block sizes and dag links");
    const ahead: Ahead[] = [];
    let next = 0;
    // Where child `next` starts, by the sizes this node declares (checked against `read` before anything is skipped).
    let predicted = read;
    for (const [i, link] of node.Links.entries()) {
      while (next < node.Links.length && ahead.length < READ_AHEAD) {
        const size = unixfs.blockSizes[next];
        const cid = node.Links[next++].Hash;
        const item: Ahead = { settled: false };
        if (!placedHere(cid, predicted, size)) {
          item.bytes = fetchBlock(cid);
          // Awaited below, unless an earlier block failed first.
          item.bytes.then(() => item.settled = true, () => item.settled = true);
        }
        ahead.push(item);
        predicted += size;
      }
      const item = ahead.shift()!;
      const at = placedHere(link.Hash, read, unixfs.blockSizes[i]);
      if (!item.bytes && at) {
        count(at.length);
        yield { skip: at.length };
        continue;
      }
      const pending = item.bytes ?? fetchBlock(link.Hash);
      const bytes = item.settled || !blocks.need ? await pending : await blocks.need(pending);
      if (link.Hash.code === RAW) {
        count(bytes.byteLength);
        yield { data: bytes, leaf: link.Hash };
      } else if (link.Hash.code === DAG_PB) {
        const child = decodePb(bytes);
        if (child.Data === undefined) throw new Error(`Block ${link.Hash} of file ${entry.cid} has no UnixFS data`);
        const unixfs = UnixFS.unmarshal(child.Data);
        // A leaf with data is released once written (writeFile); any other node once its subtree is, since its
        // links' CIDs are views of its bytes.
        const piece = child.Links.length === 0 && (unixfs.data?.byteLength ?? 0) > 0;
        try {
          yield* walk(child, unixfs, { cid: link.Hash, block: bytes });
        } finally {
          if (!piece) blocks.release?.(link.Hash, bytes);
        }
      } else throw new Error(`Unsupported codec in file ${entry.cid}: ${codecName(link.Hash.code)}`);
    }
  }
  yield* walk(entry.node, entry.unixfs, { cid: entry.cid });
  if (read < wanted) throw new Error(`File ${entry.cid} holds fewer bytes than the ${wanted} its root declares`);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
