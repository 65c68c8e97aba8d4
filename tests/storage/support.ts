/** Shared helpers of the storage tests: a local IPFS service, a Storage wired to it, captured logs, random files. */
import { encode as encodePb, prepare } from "@ipld/dag-pb";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { computeDirectoryCid } from "../../src/storage/compute_cid.ts";
import { DiskBlockstore } from "../../src/storage/disk_blockstore.ts";
import { type DevIpfsOptions, startDevIpfs, Storage, type StorageConfig } from "../../src/storage/mod.ts";

/** The JWT the local service accepts in tests. */
export const TEST_JWT = "eyJhbGciOiJIUzI1NiJ9.test-secret-jwt-do-not-log.c2lnbmF0dXJl";

/** A temporary directory removed on dispose. */
export async function tempDir(prefix = "storage-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/** Writes `size` pseudo-random bytes to `path` in 1 MiB slices (crypto.getRandomValues caps at 64 KiB a call). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const slice = new Uint8Array(1024 * 1024);
  let left = size;
  while (left > 0) {
    const n = Math.min(left, slice.length);
    for (let off = 0; off < n; off += 65536) crypto.getRandomValues(slice.subarray(off, Math.min(n, off + 65536)));
    let w = 0;
    while (w < n) w += await file.write(slice.subarray(w, n));
    left -= n;
  }
}

/** Whether two files have identical bytes (streamed compare). */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [sa, sb] = [await Deno.stat(a), await Deno.stat(b)];
  if (sa.size !== sb.size) return false;
  using fa = await Deno.open(a);
  using fb = await Deno.open(b);
  const ba = new Uint8Array(1 << 20);
  const bb = new Uint8Array(1 << 20);
  while (true) {
    const na = await readFull(fa, ba);
    const nb = await readFull(fb, bb);
    if (na !== nb) return false;
    if (na === 0) return true;
    for (let i = 0; i < na; i++) if (ba[i] !== bb[i]) return false;
  }
}

async function readFull(f: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let off = 0;
  while (off < buf.length) {
    const n = await f.read(buf.subarray(off));
    if (n === null) break;
    off += n;
  }
  return off;
}

/** A logger whose records are kept for assertions. */
export function capturedLogger(): { logger: Logger; writer: MemoryWriter } {
  const writer = new MemoryWriter();
  return { logger: new Logger({ level: "debug", writer }), writer };
}

/** A storage config for tests: short timeouts, given URLs. */
export function testConfig(dataDir: string, overrides: Partial<StorageConfig> = {}): StorageConfig {
  return {
    dataDir,
    pinataJwt: TEST_JWT,
    pinataApiUrl: "http://127.0.0.1:1",
    ipfsGateways: ["http://127.0.0.1:1"],
    pinataGateway: undefined,
    pinataGatewayKey: undefined,
    ipfsFetchFormat: "car",
    inputMaxBytes: 1024 ** 3,
    inputMaxEntries: 10_000,
    ipfsRequestTimeout: 5_000,
    ipfsInactivityTimeout: 2_000,
    inputFetchTimeout: 60_000,
    inputFetchRetries: 0,
    outputMaxBytes: 1024 ** 3,
    uploadRetries: 0,
    uploadRetryBackoff: 10,
    uploadTimeout: 60_000,
    outputSpoolTtl: 3_600_000,
    ...overrides,
  };
}

/**
 * A local IPFS service plus a Storage pointed at it, in a temp dir; all disposed together. `service` sets the
 * service's modes (importer profile, scoped keys).
 */
export async function localStack(
  overrides: Partial<StorageConfig> = {},
  service: Pick<DevIpfsOptions, "profile" | "scopedKeys"> = {},
) {
  const dir = await tempDir();
  const ipfs = await startDevIpfs({ port: 0, dataDir: `${dir.path}/ipfs`, jwt: TEST_JWT, ...service });
  const { logger, writer } = capturedLogger();
  const config = testConfig(`${dir.path}/data`, {
    pinataApiUrl: ipfs.url,
    ipfsGateways: [ipfs.url],
    ...overrides,
  });
  const storage = new Storage(config, logger, { fetchBackoffMs: 10 });
  return {
    dir: dir.path,
    service: ipfs,
    storage,
    config,
    logs: writer,
    logger,
    async [Symbol.asyncDispose]() {
      await ipfs.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Uploads a fresh directory holding the given files (relative path → bytes or a size for random content). */
export async function uploadTree(
  stack: Awaited<ReturnType<typeof localStack>>,
  files: Record<string, Uint8Array | number>,
  jobId = `job-${crypto.randomUUID().slice(0, 8)}`,
): Promise<{ cid: string; source: string }> {
  const source = `${stack.dir}/src-${jobId}`;
  const out = `${stack.dir}/out-${jobId}`;
  await Deno.mkdir(out, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const path = `${out}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    if (typeof content === "number") await writeRandomFile(path, content);
    else await Deno.writeFile(path, content);
  }
  // Keep a pristine copy to compare with: the upload moves the output into the spool.
  await new Deno.Command("cp", { args: ["-a", out, source] }).output();
  const res = await stack.storage.uploadOutput(out, { jobId, agentAddress: "0x" + "ab".repeat(20) });
  return { cid: res.cid, source };
}

/**
 * Like {@linkcode uploadTree}, but pinned as CIDv0 (`pinataOptions.cidVersion: 0`): the DAG Kubo's default `ipfs add`
 * makes, with dag-pb leaves. The CID is checked against {@linkcode computeDirectoryCid} under the CIDv0 profile, which
 * tests/storage/cid_reference_test.ts holds to Kubo's and Debian's `ipfs_cid` outputs.
 */
export async function uploadTreeV0(
  stack: Awaited<ReturnType<typeof localStack>>,
  files: Record<string, Uint8Array | number>,
): Promise<{ cid: string; source: string }> {
  const source = `${stack.dir}/src-v0-${crypto.randomUUID().slice(0, 8)}`;
  const form = new FormData();
  form.append("pinataOptions", JSON.stringify({ cidVersion: 0 }));
  for (const [rel, content] of Object.entries(files)) {
    const path = `${source}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    if (typeof content === "number") await writeRandomFile(path, content);
    else await Deno.writeFile(path, content);
    form.append("file", new Blob([await Deno.readFile(path)]), `root/${rel}`);
  }
  const res = await fetch(`${stack.service.url}/pinning/pinFileToIPFS`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_JWT}` },
    body: form,
  });
  if (!res.ok) throw new Error(`CIDv0 upload: HTTP ${res.status} ${await res.text()}`);
  const cid = ((await res.json()) as { IpfsHash: string }).IpfsHash;
  const expected = (await computeDirectoryCid(source, { cidVersion: 0 })).toString();
  if (cid !== expected) throw new Error(`The local service pinned ${cid}; Kubo's CIDv0 defaults give ${expected}`);
  return { cid, source };
}

/**
 * Stores a UnixFS directory whose single link (to a 6-byte file, `pwned\n`) has `name`, straight into the local
 * service's blockstore: names the importer would never make. Raw bytes give a name that is not valid UTF-8.
 */
export async function storeDirectoryNamed(
  stack: Awaited<ReturnType<typeof localStack>>,
  name: string | Uint8Array,
): Promise<string> {
  const store = await new DiskBlockstore(`${stack.dir}/ipfs/blocks`).open();
  const leaf = new TextEncoder().encode("pwned\n");
  const leafCid = CID.createV1(0x55, await sha256.digest(leaf));
  await store.put(leafCid, leaf);
  const raw = typeof name === "string" ? undefined : name;
  // dag-pb takes names as strings: encode a placeholder of the same length, then put the raw bytes in its place.
  const placeholder = raw ? "\u0001".repeat(raw.byteLength) : name as string;
  let dir = encodePb(
    prepare({ Data: Uint8Array.from([0x08, 0x01]), Links: [{ Name: placeholder, Hash: leafCid, Tsize: 6 }] }),
  );
  if (raw) {
    const at = dir.findIndex((_, i) => raw.every((_, j) => dir[i + j] === 0x01));
    dir = dir.slice();
    dir.set(raw, at);
  }
  const dirCid = CID.createV1(0x70, await sha256.digest(dir));
  await store.put(dirCid, dir);
  return dirCid.toString();
}
