/** Filesystem usage by statfs (`--allow-sys=statfs` and read permission on the path), for the disk checks. */
import { statfs } from "node:fs/promises";

/** How full one filesystem is, the way `df` counts it (space reserved for root is not free). */
export interface DiskUsage {
  path: string;
  usedBytes: number;
  freeBytes: number;
  /** Used of used + free, 0–100. */
  usedPercent: number;
}

/** The filesystem usage at `path` (statfs). */
export async function diskUsage(path: string): Promise<DiskUsage> {
  const s = await statfs(path);
  const usedBytes = (s.blocks - s.bfree) * s.bsize;
  const freeBytes = s.bavail * s.bsize;
  const denominator = usedBytes + freeBytes;
  return { path, usedBytes, freeBytes, usedPercent: denominator > 0 ? (usedBytes / denominator) * 100 : 0 };
}
