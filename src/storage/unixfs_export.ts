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

/** Minimal blockstore the exporter reads from. */
export interface ReadableBlocks {
  get(cid: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array>;
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
  const state = { bytes: 0, files: 0, entries: 0, root: destDir };
  // deno-lint-ignore no-explicit-any
  const root = await exporter(cid, blocks as any, { signal });
  if (root.type === "directory") {
    await writeDirectory(root, blocks, destDir, limits, state, signal);
  } else {
    await writeFile(root, blocks, `${destDir}/${SINGLE_FILE_NAME}`, limits, state, signal);
  }
  return { bytes: state.bytes, files: state.files };
}

type State = { bytes: number; files: number; entries: number; root: string };

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
      await Deno.mkdir(target);
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
  // createNew: an entry that names an existing path (duplicate links) is refused rather than overwritten.
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
  try {
    const content = entry.type === "file" ? fileContent(entry, blocks, signal) : entry.content({ signal });
    for await (const chunk of content) {
      state.bytes += chunk.byteLength;
      if (state.bytes > limits.maxBytes) {
        throw new StorageError(
          "input_fetch_failed",
          "too_large",
          `Input exceeds INPUT_MAX_BYTES (${limits.maxBytes} bytes decoded)`,
        );
      }
      let off = 0;
      while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
    }
  } finally {
    file.close();
  }
  state.files++;
}

// Blocks asked for ahead of the one being written, per level of a file's tree (the exporter's own walker asks without
// a bound and queues whatever arrives, so a disk slower than the network would pile the file up in memory).
const READ_AHEAD = 8;

/**
 * A UnixFS file's bytes in order, read block by block with a bounded read-ahead, so a slow disk holds the network back
 * instead of letting data queue in memory. Checks what the exporter checks: dag-pb or raw children only, one block
 * size per link, and exactly the size the root declares.
 */
async function* fileContent(
  entry: UnixFSEntry & { type: "file" },
  blocks: ReadableBlocks,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const wanted = entry.unixfs.fileSize();
  let read = 0n;
  const fetchBlock = async (cid: CID) => {
    const parts: Uint8Array[] = [];
    for await (const part of blocks.get(cid, { signal })) parts.push(part);
    return parts.length === 1 ? parts[0] : concat(parts);
  };
  const count = (bytes: Uint8Array) => {
    read += BigInt(bytes.byteLength);
    if (read > wanted) throw new Error(`File ${entry.cid} holds more bytes than the ${wanted} its root declares`);
    return bytes;
  };
  async function* walk(node: PBNode, unixfs: UnixFS): AsyncGenerator<Uint8Array> {
    if (unixfs.data !== undefined && unixfs.data.byteLength > 0) yield count(unixfs.data);
    if (node.Links.length !== unixfs.blockSizes.length) throw new Error("Inconsistent block sizes and dag links");
    const ahead: Promise<Uint8Array>[] = [];
    let next = 0;
    for (const link of node.Links) {
      while (next < node.Links.length && ahead.length < READ_AHEAD) {
        const pending = fetchBlock(node.Links[next++].Hash);
        pending.catch(() => {}); // awaited below, unless an earlier block failed first
        ahead.push(pending);
      }
      const bytes = await ahead.shift()!;
      if (link.Hash.code === RAW) yield count(bytes);
      else if (link.Hash.code === DAG_PB) {
        const child = decodePb(bytes);
        if (child.Data === undefined) throw new Error(`Block ${link.Hash} of file ${entry.cid} has no UnixFS data`);
        yield* walk(child, UnixFS.unmarshal(child.Data));
      } else throw new Error(`Unsupported codec in file ${entry.cid}: ${codecName(link.Hash.code)}`);
    }
  }
  yield* walk(entry.node, entry.unixfs);
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
