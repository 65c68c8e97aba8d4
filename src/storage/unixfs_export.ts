/** Walks a verified UnixFS DAG and writes it to disk: a file as `<dir>/input`, a directory as its tree. */
import { exporter, type UnixFSEntry } from "ipfs-unixfs-exporter";
import type { CID } from "multiformats/cid";
import { codecName } from "./block_verify.ts";
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
    await writeFile(root, `${destDir}/${SINGLE_FILE_NAME}`, limits, state, signal);
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
      await writeFile(entry, target, limits, state, signal);
    }
  }
}

async function writeFile(
  entry: UnixFSEntry,
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
    for await (const chunk of entry.content({ signal })) {
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
