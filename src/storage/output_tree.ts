/** Lists a job's output directory for upload: regular files and directories only, sizes summed, never following links. */
import { describeName, entryNameProblem } from "./entry_name.ts";
import { StorageError } from "./errors.ts";

/** One file or directory of the output, by path relative to the output root (`/`-separated). */
export interface OutputEntry {
  path: string;
  kind: "file" | "dir";
  size: number;
}

/** The scanned output. */
export interface OutputTree {
  entries: OutputEntry[];
  files: number;
  bytes: number;
}

/** Limits applied while scanning. */
export interface ScanLimits {
  /** OUTPUT_MAX_BYTES. */
  maxBytes: number;
  /** Most entries. */
  maxEntries?: number;
}

/**
 * Walks `root` depth-first in name order, with `lstat`, so symlinks are seen and never followed. A name that cannot
 * travel intact ({@linkcode entryNameProblem}: not UTF-8, control characters, …) is refused (`upload_failed`, detail
 * `unsafe_name`) before it is used as a path; a symlink or any special file is refused (`upload_failed`, detail
 * `symlink`); more than `maxBytes` is `output_too_large`. Hard links are regular files: each name is uploaded.
 */
export async function scanOutput(root: string, limits: ScanLimits): Promise<OutputTree> {
  const tree: OutputTree = { entries: [], files: 0, bytes: 0 };
  const maxEntries = limits.maxEntries ?? 1_000_000;
  async function walk(dir: string, rel: string): Promise<void> {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    names.sort(byteOrder);
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      const problem = entryNameProblem(name);
      if (problem) {
        throw new StorageError(
          "upload_failed",
          "unsafe_name",
          `Output entry ${describeName(relPath)} ${problem}; such names are not uploaded, rename it`,
        );
      }
      const info = await Deno.lstat(`${dir}/${name}`);
      if (tree.entries.length >= maxEntries) {
        throw new StorageError("output_too_large", "too_large", `Output has more than ${maxEntries} entries`);
      }
      if (info.isSymlink || (!info.isFile && !info.isDirectory)) {
        throw new StorageError(
          "upload_failed",
          "symlink",
          `Output entry ${describeName(relPath)} is a ${info.isSymlink ? "symlink" : "special file"}; only regular ` +
            "files and directories are uploaded",
        );
      }
      if (info.isDirectory) {
        tree.entries.push({ path: relPath, kind: "dir", size: 0 });
        await walk(`${dir}/${name}`, relPath);
      } else {
        tree.bytes += info.size;
        tree.files++;
        if (tree.bytes > limits.maxBytes) {
          throw new StorageError(
            "output_too_large",
            "too_large",
            `Output exceeds OUTPUT_MAX_BYTES (${limits.maxBytes} bytes)`,
          );
        }
        tree.entries.push({ path: relPath, kind: "file", size: info.size });
      }
    }
  }
  const info = await Deno.lstat(root);
  if (!info.isDirectory) {
    throw new StorageError("upload_failed", "symlink", `Output path ${root} is not a directory`);
  }
  await walk(root, "");
  return tree;
}

// UnixFS sorts directory links by the bytes of their names; walking in the same order keeps uploads deterministic.
function byteOrder(a: string, b: string): number {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(ea.length, eb.length); i++) if (ea[i] !== eb[i]) return ea[i] - eb[i];
  return ea.length - eb.length;
}
