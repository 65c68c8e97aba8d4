/**
 * One input-cache entry on disk: `<cache>/<key>/data/` (the input tree, mounted read-only as `/input`) beside
 * `<cache>/<key>/entry.json`, the completion marker. The marker holds the tree's size, entry count and a SHA-256 of
 * its listing (kind, mode, size and mtime of every path), so a file deleted, truncated, rewritten or made writable
 * after the entry was sealed is seen before the entry is mounted again.
 */
import { join } from "node:path";
import { toHex } from "multiformats/bytes";

/** The completion marker's content. */
export interface CacheMarker {
  version: 1;
  /** The CID as first requested. */
  cid: string;
  /** The directory name: the CID in CIDv1 base32. */
  key: string;
  /** File bytes in the tree. */
  bytes: number;
  /** Files and directories in the tree (the root not counted). */
  entries: number;
  /** SHA-256 (hex) of the listing. */
  listing: string;
  createdAt: string;
}

/** What a walk of a tree found. */
export interface TreeListing {
  bytes: number;
  entries: number;
  /** SHA-256 (hex) of the listing lines. */
  listing: string;
}

/** The marker's file name inside an entry. */
export const MARKER_NAME = "entry.json";
/** The tree's directory name inside an entry. */
export const DATA_NAME = "data";

/**
 * Makes the tree read-only for everyone, the agent's user included: files `0444` (`0555` when executable), directories
 * `0555`. Whatever user a container runs as, it cannot write, even where the read-only mount would not stop it.
 */
export async function sealTree(root: string): Promise<void> {
  for await (const { path, info } of walk(root)) {
    if (info.isDirectory) await Deno.chmod(path, 0o555);
    else if (info.isFile) await Deno.chmod(path, (info.mode ?? 0) & 0o111 ? 0o555 : 0o444);
  }
  await Deno.chmod(root, 0o555);
}

/**
 * Walks `root` without following links and hashes one line per path, in sorted order. Anything but plain files and
 * directories (a symlink, a socket) makes the listing `undefined`: a sealed input never holds one.
 */
export async function listTree(root: string): Promise<TreeListing | undefined> {
  const lines: string[] = [];
  let bytes = 0;
  for await (const { rel, info } of walk(root)) {
    const mode = ((info.mode ?? 0) & 0o7777).toString(8);
    if (info.isDirectory) lines.push(`d ${mode} ${JSON.stringify(rel)}`);
    else if (info.isFile) {
      bytes += info.size;
      lines.push(`f ${mode} ${info.size} ${info.mtime?.getTime() ?? 0} ${JSON.stringify(rel)}`);
    } else return undefined;
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.join("\n")));
  return { bytes, entries: lines.length, listing: toHex(new Uint8Array(digest)) };
}

/** Writes the marker and syncs it: an entry is complete only once its marker is durable. */
export async function writeMarker(entryRoot: string, marker: CacheMarker): Promise<void> {
  using file = await Deno.open(join(entryRoot, MARKER_NAME), { write: true, createNew: true, mode: 0o444 });
  const bytes = new TextEncoder().encode(JSON.stringify(marker) + "\n");
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
  await file.syncData();
}

/** Reads and checks an entry's marker; undefined when it is missing or not a marker of `key`. */
export async function readMarker(entryRoot: string, key: string): Promise<CacheMarker | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(entryRoot, MARKER_NAME));
  } catch {
    return undefined;
  }
  try {
    const m = JSON.parse(text) as Partial<CacheMarker>;
    const ok = m.version === 1 && m.key === key && typeof m.cid === "string" && Number.isSafeInteger(m.bytes) &&
      Number.isSafeInteger(m.entries) && typeof m.listing === "string" && /^[0-9a-f]{64}$/.test(m.listing);
    return ok ? m as CacheMarker : undefined;
  } catch {
    return undefined;
  }
}

/** Why an entry cannot be mounted (`missing marker`, `listing mismatch`…), or undefined when it is intact. */
export async function checkEntry(entryRoot: string, key: string, expected?: CacheMarker): Promise<string | undefined> {
  const marker = await readMarker(entryRoot, key);
  if (!marker) return "missing or unreadable completion marker";
  if (expected && (marker.listing !== expected.listing || marker.bytes !== expected.bytes)) return "marker changed";
  const found = await listTree(join(entryRoot, DATA_NAME)).catch(() => undefined);
  if (!found) return "tree unreadable or holds something that is not a file or directory";
  if (found.entries !== marker.entries || found.bytes !== marker.bytes || found.listing !== marker.listing) {
    return `listing mismatch (${found.entries} entries, ${found.bytes} bytes; marker says ${marker.entries}, ` +
      `${marker.bytes})`;
  }
  return undefined;
}

/** Removes a tree, sealed or not (read-only directories are made writable first); already gone is fine. */
export async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
    return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
  }
  // Not root (no CAP_DAC_OVERRIDE): a sealed directory's entries can only be unlinked once it is writable again.
  await Deno.chmod(path, 0o755).catch(() => {});
  for await (const { path: p, info } of walk(path)) if (info.isDirectory) await Deno.chmod(p, 0o755).catch(() => {});
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Depth-first, names sorted, links not followed. */
async function* walk(root: string, rel = ""): AsyncGenerator<{ path: string; rel: string; info: Deno.FileInfo }> {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(root, rel))) names.push(e.name);
  names.sort();
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const path = join(root, r);
    const info = await Deno.lstat(path);
    yield { path, rel: r, info };
    if (info.isDirectory) yield* walk(root, r);
  }
}
