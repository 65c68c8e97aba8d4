/** Helpers of the storage benchmarks (not a test). */
import type { StorageConfig } from "../src/storage/mod.ts";

/** `64MiB`, `1GiB`, `4096` → bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+)\s*(k|m|g)?i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`Bad size ${s}`);
  return Number(m[1]) * ({ k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? "").toLowerCase()] ?? 1);
}

/** Runs `fn`, returns its result and the seconds it took. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, (performance.now() - t) / 1000];
}

/** The median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * CPU seconds (user + system, all threads) of process `pid` (`self` for this one), from `/proc/<pid>/stat`; for
 * `self` the children it waited for (a `curl`) are counted too. `0` where `/proc` cannot be read.
 */
export function cpuSeconds(pid: number | "self" = "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14–17 (utime, stime, cutime, cstime) are the 12th–15th after the command name; clock ticks of 1/100 s.
    return f.slice(11, 15).reduce((a, x) => a + Number(x), 0) / 100;
  } catch {
    return 0;
  }
}

/**
 * Flushes the page cache's dirty pages (`sync`), untimed, before a timed transfer: on this machine the disk takes about
 * 300 MB/s once a GiB or two is dirty, so a transfer that writes after others would otherwise pay for their writes.
 */
export async function settleDisk(): Promise<void> {
  await new Deno.Command("sync").output();
}

/** Runs curl (`-sS --fail` added); resolves its stdout. */
export async function curl(argv: string[]): Promise<string> {
  const out = await new Deno.Command("curl", { args: ["-sS", "--fail", ...argv], stdout: "piped" }).output();
  if (!out.success) throw new Error(`curl ${argv.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

/** Writes `size` random bytes to `path` in 1 MiB slices. */
export async function writeRandom(path: string, size: number): Promise<void> {
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  const slice = new Uint8Array(1 << 20);
  for (let left = size; left > 0; left -= slice.length) {
    for (let o = 0; o < slice.length; o += 65536) crypto.getRandomValues(slice.subarray(o, o + 65536));
    const n = Math.min(left, slice.length);
    let w = 0;
    while (w < n) w += await f.write(slice.subarray(w, n));
  }
}

/** Starts `deno run -A <argv>` whose first stdout line is its URL; the child is added to `children`. */
export async function startChild(children: Deno.ChildProcess[], argv: string[]): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), { args: ["run", "-A", ...argv], stdout: "piped" }).spawn();
  children.push(child);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const url = (await reader.read()).value!.trim();
  reader.releaseLock();
  return url;
}

/** A storage config for one benchmark: one gateway and one pinning endpoint at `url`, limits sized for `size`. */
export function benchConfig(dataDir: string, o: { url: string; jwt: string; size: number }): StorageConfig {
  return {
    dataDir,
    pinataJwt: o.jwt,
    pinataApiUrl: o.url,
    ipfsGateways: [o.url],
    pinataGateway: undefined,
    pinataGatewayKey: undefined,
    ipfsFetchFormat: "car",
    inputMaxBytes: 2 * o.size + 1,
    inputMaxEntries: 1000,
    ipfsRequestTimeout: 60_000,
    ipfsInactivityTimeout: 60_000,
    inputFetchTimeout: 3_600_000,
    inputFetchRetries: 0,
    outputMaxBytes: 2 * o.size + 1,
    uploadRetries: 0,
    uploadRetryBackoff: 1000,
    uploadTimeout: 3_600_000,
    outputSpoolTtl: 3_600_000,
  };
}
