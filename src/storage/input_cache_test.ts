/**
 * The input cache on a real filesystem with a stand-in fetcher that writes a known tree and counts its calls: sharing
 * one fetch, corruption detection, LRU eviction, holds, the disabled cache, restarts. The pipeline tests
 * (tests/agent/input_cache_test.ts) do the same against the local IPFS service and real containers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Logger, MemoryWriter } from "../log/mod.ts";
import { sleep } from "../timers.ts";
import { checkEntry, DATA_NAME, MARKER_NAME, removeTree } from "./cache_entry.ts";
import { StorageError } from "./errors.ts";
import { cacheKey, InputCache, type InputFetcher } from "./input_cache.ts";

// Real CIDs (any valid ones do: the stand-in fetcher does not read them).
const CID_A = "bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm";
const CID_B = "bafkreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu";
const CID_C = "bafkreibopuwahkkqplrgl3hvwu2wrbnfgoj2eau5eqjzjglsmwq2ewxpyy";
const CID_V0 = "QmNWBLEhbMPayg7n96wHaKo4WXYP396yGMcEXK6AnyJ64u";

/** A fetcher writing `tree` (relative path → bytes) and counting calls; optionally held until `gate` resolves. */
function standIn(tree: Record<string, number>, gate?: Promise<void>) {
  const state = { calls: 0, aborted: 0 };
  const fetch: InputFetcher = async (dir, signal) => {
    state.calls++;
    if (gate) {
      await Promise.race([
        gate,
        new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
      ]).catch((error) => {
        state.aborted++;
        throw new StorageError("input_fetch_failed", "aborted", "aborted", { cause: error });
      });
    }
    let bytes = 0;
    for (const [rel, size] of Object.entries(tree)) {
      const path = join(dir, rel);
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeFile(path, new Uint8Array(size).fill(rel.length));
      bytes += size;
    }
    return { bytes };
  };
  return { fetch, state };
}

async function scene(maxBytes: number) {
  const root = await Deno.makeTempDir({ prefix: "input-cache-test-" });
  const writer = new MemoryWriter();
  const logger = new Logger({ level: "debug", writer });
  const jobDir = async () => {
    const d = join(root, "jobs", crypto.randomUUID());
    await Deno.mkdir(d, { recursive: true });
    return d;
  };
  const open = (max = maxBytes) => new InputCache({ dir: join(root, "cache"), maxBytes: max, logger });
  return {
    root,
    cacheDir: join(root, "cache"),
    writer,
    open,
    jobDir,
    entryOf: (cid: string) => join(root, "cache", cacheKey(cid)),
    async [Symbol.asyncDispose]() {
      await removeTree(root);
    },
  };
}

Deno.test("a second request for a CID is served from the cache entry without a fetch, read-only", async () => {
  await using s = await scene(1 << 20);
  const cache = s.open();
  const source = standIn({ "input": 1000, "sub/b.txt": 10 });
  const first = await cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  assert.equal(first.source, "fetched");
  assert.equal(first.cached, true);
  assert.equal(first.dir, join(s.entryOf(CID_A), DATA_NAME));
  first.release();
  const second = await cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  assert.equal(second.source, "cache");
  assert.equal(second.dir, first.dir);
  assert.equal(source.state.calls, 1, "one fetch for two jobs");
  assert.equal(cache.bytes(), 1010);
  assert.equal((await Deno.stat(join(second.dir, "input"))).mode! & 0o777, 0o444);
  assert.equal((await Deno.stat(join(second.dir, "sub"))).mode! & 0o777, 0o555);
  assert.equal((await Deno.stat(second.dir)).mode! & 0o777, 0o555);
  second.release();
});

Deno.test("a CIDv0 and its CIDv1 share one entry", async () => {
  await using s = await scene(1 << 20);
  const cache = s.open();
  const source = standIn({ "input": 10 });
  (await cache.acquire(CID_V0, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
  const v1 = cacheKey(CID_V0);
  assert.match(v1, /^bafybei/);
  const again = await cache.acquire(v1, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  assert.equal(again.source, "cache");
  assert.equal(source.state.calls, 1);
  again.release();
});

Deno.test("jobs wanting the same CID at once share one fetch; the second waits for the first", async () => {
  await using s = await scene(1 << 20);
  const cache = s.open();
  const gate = Promise.withResolvers<void>();
  const source = standIn({ "input": 100 }, gate.promise);
  const a = cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  const b = cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  let bDone = false;
  b.then(() => bDone = true, () => bDone = true);
  await sleep(50);
  assert.equal(source.state.calls, 1);
  assert.equal(bDone, false, "the second waits while the first fetches");
  gate.resolve();
  const [la, lb] = await Promise.all([a, b]);
  assert.deepEqual([la.source, lb.source], ["fetched", "shared"]);
  assert.equal(la.dir, lb.dir);
  assert.equal(source.state.calls, 1);
  la.release();
  lb.release();
});

Deno.test("cancelling one of two waiters leaves the shared fetch running; cancelling the last stops it", async () => {
  await using s = await scene(1 << 20);
  const cache = s.open();
  const gate = Promise.withResolvers<void>();
  const source = standIn({ "input": 100 }, gate.promise);
  const ca = new AbortController(), cb = new AbortController();
  const a = cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch, signal: ca.signal });
  const b = cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch, signal: cb.signal });
  await sleep(20);
  ca.abort(new Error("job a cancelled"));
  await assert.rejects(a, (e: unknown) => e instanceof StorageError && e.detail === "aborted");
  await sleep(20);
  assert.equal(source.state.aborted, 0, "job b still waits: the fetch goes on");
  gate.resolve();
  const lb = await b;
  assert.equal(lb.cached, true);
  lb.release();

  const gate2 = Promise.withResolvers<void>();
  const slow = standIn({ "input": 100 }, gate2.promise);
  const cc = new AbortController();
  const c = cache.acquire(CID_B, { fallbackDir: await s.jobDir(), fetch: slow.fetch, signal: cc.signal });
  await sleep(20);
  cc.abort(new Error("job c cancelled"));
  await assert.rejects(c);
  await sleep(20);
  assert.equal(slow.state.aborted, 1, "nobody waits any more: the fetch is aborted");
  await cache.settled();
  assert.deepEqual(await names(join(s.cacheDir, ".staging")), [], "its staging directory is removed");
  assert.equal(await exists(s.entryOf(CID_B)), false);
});

const corruptions: [string, (data: string, entry: string) => Promise<void>][] = [
  ["a file deleted", (data) => Deno.remove(join(data, "sub/b.txt"))],
  ["the completion marker removed", (_data, entry) => Deno.remove(join(entry, MARKER_NAME))],
  ["a file truncated", (data) => Deno.truncate(join(data, "input"), 10)],
  ["a file made writable", (data) => Deno.chmod(join(data, "input"), 0o666)],
  ["a file added", async (data) => {
    await Deno.chmod(data, 0o755);
    await Deno.writeTextFile(join(data, "extra"), "x");
    await Deno.chmod(data, 0o555);
  }],
  ["a file rewritten in place", async (data) => {
    const path = join(data, "input");
    await Deno.chmod(path, 0o644);
    await Deno.writeFile(path, new Uint8Array(1000).fill(7));
    await Deno.chmod(path, 0o444);
  }],
];

for (const [what, corrupt] of corruptions) {
  Deno.test(`a cache entry with ${what} is dropped and fetched again, never handed out`, async () => {
    await using s = await scene(1 << 20);
    const cache = s.open();
    const source = standIn({ "input": 1000, "sub/b.txt": 10 });
    (await cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
    const entry = s.entryOf(CID_A);
    // A rewrite shows in the mtime, whose clock may tick as coarsely as every 10 ms (a kernel with HZ=100).
    await sleep(25);
    await corrupt(join(entry, DATA_NAME), entry);
    assert.ok(await checkEntry(entry, cacheKey(CID_A)), "the check sees the damage");
    const again = await cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch });
    assert.equal(again.source, "fetched", "not served from the broken entry");
    assert.equal(source.state.calls, 2);
    assert.equal(await checkEntry(entry, cacheKey(CID_A)), undefined, "the fresh entry is sound");
    assert.equal((await Deno.readFile(join(again.dir, "input"))).byteLength, 1000);
    assert.equal(cache.bytes(), 1010, "the dropped entry's bytes are not counted");
    again.release();
    await cache.settled();
    assert.deepEqual(await names(join(s.cacheDir, ".trash")), [], "the broken entry's files are gone");
    assert.ok(s.writer.records.some((r) => r.msg === "Dropping a broken input cache entry"));
  });
}

Deno.test("least recently used entries are evicted to stay under INPUT_CACHE_MAX_BYTES; held ones never", async () => {
  await using s = await scene(2500);
  const cache = s.open();
  const source = standIn({ "input": 1000 });
  for (const cid of [CID_A, CID_B]) {
    (await cache.acquire(cid, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
    await sleep(5);
  }
  // A used again: B is now the least recently used.
  (await cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
  const c = await cache.acquire(CID_C, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  await cache.settled();
  assert.equal(await exists(s.entryOf(CID_B)), false, "B evicted");
  assert.equal(await exists(s.entryOf(CID_A)), true);
  assert.equal(cache.bytes(), 2000);
  assert.equal(source.state.calls, 3);

  // A is held by a running job and C too: a new input does not fit without evicting a held entry.
  const a = await cache.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  const fallbackDir = await s.jobDir();
  const b = await cache.acquire(CID_B, { fallbackDir, fetch: source.fetch });
  assert.equal(b.cached, false, "kept for its job only");
  assert.equal(b.dir, fallbackDir);
  assert.equal((await Deno.readFile(join(fallbackDir, "input"))).byteLength, 1000);
  assert.equal(await exists(s.entryOf(CID_A)), true);
  assert.equal(await exists(s.entryOf(CID_C)), true);
  assert.equal(await exists(s.entryOf(CID_B)), false);
  assert.equal(cache.bytes(), 2000);
  for (const l of [a, b, c]) l.release();
});

Deno.test("an input larger than INPUT_CACHE_MAX_BYTES lands in the job's own directory, every time", async () => {
  await using s = await scene(500);
  const cache = s.open();
  const source = standIn({ "input": 1000 });
  for (let i = 0; i < 2; i++) {
    const dir = await s.jobDir();
    const lease = await cache.acquire(CID_A, { fallbackDir: dir, fetch: source.fetch });
    assert.equal(lease.dir, dir);
    assert.equal(lease.cached, false);
    lease.release();
  }
  assert.equal(source.state.calls, 2);
  assert.equal(cache.bytes(), 0);
  assert.deepEqual(await names(s.cacheDir), [".staging"]);
  assert.deepEqual(await names(join(s.cacheDir, ".staging")), []);
});

Deno.test("INPUT_CACHE_MAX_BYTES=0 fetches into the job's directory and removes what an earlier run kept", async () => {
  await using s = await scene(1 << 20);
  (await s.open().acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: standIn({ input: 10 }).fetch })).release();
  assert.equal(await exists(s.entryOf(CID_A)), true);
  const disabled = s.open(0);
  assert.equal(disabled.enabled, false);
  const source = standIn({ "input": 10 });
  for (let i = 0; i < 2; i++) {
    const dir = await s.jobDir();
    const lease = await disabled.acquire(CID_A, { fallbackDir: dir, fetch: source.fetch });
    assert.deepEqual([lease.dir, lease.source, lease.cached], [dir, "direct", false]);
    lease.release();
  }
  assert.equal(source.state.calls, 2);
  await disabled.settled();
  assert.equal(await exists(s.entryOf(CID_A)), false, "nothing kept when disabled");
  assert.equal(disabled.bytes(), 0);
});

Deno.test("the cache survives a restart; leftovers of a crash and entries without a marker are dropped", async () => {
  await using s = await scene(1 << 20);
  const source = standIn({ "input": 100 });
  const before = s.open();
  for (const cid of [CID_A, CID_B]) {
    (await before.acquire(cid, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
  }
  // A crash mid-fetch leaves a staging directory; a crash (or a hand) may leave an entry without its marker.
  await Deno.mkdir(join(s.cacheDir, ".staging", "half", DATA_NAME), { recursive: true });
  await Deno.writeTextFile(join(s.cacheDir, ".staging", "half", DATA_NAME, "input"), "half");
  await Deno.remove(join(s.entryOf(CID_B), MARKER_NAME));
  await Deno.mkdir(join(s.cacheDir, "not-a-cid"));

  const after = s.open();
  const a = await after.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch });
  assert.equal(a.source, "cache", "kept across the restart");
  assert.equal(source.state.calls, 2);
  assert.deepEqual(await names(join(s.cacheDir, ".staging")), []);
  assert.equal(await exists(s.entryOf(CID_B)), false, "the entry without a marker is dropped at start-up");
  assert.equal(await exists(join(s.cacheDir, "not-a-cid")), false);
  assert.equal(after.bytes(), 100);
  a.release();
});

Deno.test("least recent use survives a restart", async () => {
  await using s = await scene(2500);
  const source = standIn({ "input": 1000 });
  const before = s.open();
  (await before.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
  await sleep(20);
  (await before.acquire(CID_B, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
  await sleep(20);
  (await before.acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
  await sleep(20);
  const after = s.open();
  (await after.acquire(CID_C, { fallbackDir: await s.jobDir(), fetch: source.fetch })).release();
  await after.settled();
  assert.equal(await exists(s.entryOf(CID_B)), false, "B was used least recently before the restart");
  assert.equal(await exists(s.entryOf(CID_A)), true);
});

Deno.test("an entry held by a re-attached job is not evicted at start-up, even with the cache disabled", async () => {
  await using s = await scene(1 << 20);
  (await s.open().acquire(CID_A, { fallbackDir: await s.jobDir(), fetch: standIn({ input: 10 }).fetch })).release();
  const disabled = s.open(0);
  const release = disabled.hold(CID_A);
  await disabled.acquire(CID_B, { fallbackDir: await s.jobDir(), fetch: standIn({ input: 10 }).fetch });
  await disabled.settled();
  assert.equal(await exists(s.entryOf(CID_A)), true, "still mounted by the re-attached container");
  release();
});

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort();
}
