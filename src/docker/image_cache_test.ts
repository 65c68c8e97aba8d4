/**
 * The image cache's decisions, against a daemon held in memory (the real dockerd and registry are in
 * tests/docker/image_cache_test.ts): one pull per image, cancellation, LRU order, the watermarks, what is never removed.
 */
import assert from "node:assert/strict";
import { Logger, MemoryWriter } from "../log/mod.ts";
import { sleep } from "../timers.ts";
import type { DockerClient } from "./client.ts";
import { DockerError } from "./client.ts";
import { canonicalOf, type DiskUsage, ImageCache, type ImageCacheOptions, type ImageGcPolicy } from "./image_cache.ts";
import { ImageStore } from "./image_store.ts";
import type { ImageInfo } from "./images.ts";

const MB = 1_000_000;

/** Images and containers of a daemon, as the Engine API shows them. */
class MemoryDaemon {
  images = new Map<string, { Id: string; Size: number }>();
  containers: { ImageID: string }[] = [];
  deleted: string[] = [];
  client = {
    json: (method: string, path: string) => {
      if (method === "GET" && path === "/containers/json") return Promise.resolve(this.containers);
      const m = /^\/images\/(.+)\/json$/.exec(path);
      const found = m && this.images.get(canonicalOf(decodeURIComponent(m[1])));
      if (found) return Promise.resolve({ ...found, RepoDigests: [] });
      return Promise.reject(new DockerError(404, path, `No such image: ${m?.[1]}`));
    },
    send: (method: string, path: string) => {
      const ref = canonicalOf(path.slice("/images/".length));
      if (method !== "DELETE" || !this.images.has(ref)) return Promise.resolve(404);
      this.images.delete(ref);
      this.deleted.push(ref);
      return Promise.resolve(200);
    },
  } as unknown as DockerClient;

  /** An `ensure` that "pulls" into this daemon after `ms`. */
  ensure(sizes: Record<string, number>, ms = 0, calls: { image: string; signal: AbortSignal }[] = []) {
    return async (image: string, o: { signal: AbortSignal }): Promise<ImageInfo> => {
      calls.push({ image, signal: o.signal });
      const ref = canonicalOf(image);
      const present = this.images.get(ref);
      if (present) {
        return { id: present.Id, repoDigests: [], pulled: false, sizeBytes: present.Size, env: [], labels: {} };
      }
      await sleep(ms, o.signal);
      const img = { Id: `sha256:${ref.length}${ref.replace(/\W/g, "")}`, Size: sizes[image] ?? MB };
      this.images.set(ref, img);
      return { id: img.Id, repoDigests: [], pulled: true, sizeBytes: img.Size, env: [], labels: {} };
    };
  }
}

function cacheOver(
  daemon: MemoryDaemon,
  ensure: ImageCacheOptions["ensure"],
  o: { gc?: Partial<ImageGcPolicy>; usage?: () => DiskUsage; now?: () => number; store?: ImageStore } = {},
) {
  const writer = new MemoryWriter();
  const store = o.store ?? ImageStore.open(":memory:");
  const cache = new ImageCache({
    client: daemon.client,
    store,
    ensure,
    logger: new Logger({ level: "debug", writer }),
    gc: { highPercent: 85, lowPercent: 80, minAgeMs: 0, keep: [], ...o.gc },
    dataRoot: o.usage ? "/var/lib/docker" : undefined,
    usage: o.usage && (() => Promise.resolve(o.usage!())),
    now: o.now,
  });
  return { cache, store, writer };
}

Deno.test("jobs asking for the same missing image at once share one pull; each holds its own lease", async () => {
  const daemon = new MemoryDaemon();
  const calls: { image: string; signal: AbortSignal }[] = [];
  const { cache } = cacheOver(daemon, daemon.ensure({}, 50, calls));
  const leases = await Promise.all([
    cache.acquire("busybox:1.36"),
    cache.acquire("docker.io/library/busybox:1.36"),
    cache.acquire("index.docker.io/library/busybox:1.36"),
  ]);
  assert.equal(calls.length, 1, "one pull for three jobs (the same canonical reference)");
  assert.equal(new Set(leases.map((l) => l.info.id)).size, 1);
  // Later, the image is there: a new flight inspects and finds it, no pull.
  const later = await cache.acquire("busybox:1.36");
  assert.equal(later.info.pulled, false);
  assert.equal(calls.length, 2);
});

Deno.test("a shared pull goes on while one job still waits, and is cancelled when the last one gives up", async () => {
  const daemon = new MemoryDaemon();
  const calls: { image: string; signal: AbortSignal }[] = [];
  const { cache } = cacheOver(daemon, daemon.ensure({}, 200, calls));
  const a = new AbortController();
  const b = new AbortController();
  const first = cache.acquire("img/a:1", { signal: a.signal });
  const second = cache.acquire("img/a:1", { signal: b.signal });
  await sleep(20);
  a.abort(new Error("job A cancelled"));
  await assert.rejects(first, /job A cancelled/);
  assert.equal(calls[0].signal.aborted, false, "job B still waits: the pull goes on");
  assert.equal((await second).info.pulled, true);

  const c = new AbortController();
  const third = cache.acquire("img/c:1", { signal: c.signal });
  await sleep(20);
  c.abort(new Error("job C cancelled"));
  await assert.rejects(third, /job C cancelled/);
  assert.equal(calls[1].signal.aborted, true, "nobody waits: the pull is cancelled");
  // A new request after that starts a pull of its own rather than joining the cancelled one.
  assert.equal((await cache.acquire("img/c:1")).info.pulled, true);
  assert.equal(calls.length, 3);
});

Deno.test("above the high watermark, unused images go least recently used first until the low watermark", async () => {
  const daemon = new MemoryDaemon();
  let clock = 1_000_000;
  const sizes = { "img/a:1": 5 * MB, "img/b:1": 5 * MB, "img/c:1": 5 * MB, "img/d:1": 5 * MB };
  // A 100 MB disk, 70 MB used by other things, plus every image present.
  const usage = (): DiskUsage => {
    const used = 70 * MB + [...daemon.images.values()].reduce((n, i) => n + i.Size, 0);
    return { path: "/var/lib/docker", usedBytes: used, freeBytes: 100 * MB - used, usedPercent: used / MB };
  };
  const { cache, writer } = cacheOver(daemon, daemon.ensure(sizes), { usage, now: () => clock });
  // Used in the order b, a, d, c (each release marks the time of last use).
  for (const image of ["img/b:1", "img/a:1", "img/d:1", "img/c:1"]) {
    clock += 1000;
    (await cache.acquire(image)).release();
  }
  assert.equal(usage().usedPercent, 90);
  const removed = await cache.collect("test");
  assert.deepEqual(removed.map((r) => [r.ref, r.reason]), [
    ["docker.io/img/b:1", "disk_high"],
    ["docker.io/img/a:1", "disk_high"],
  ]);
  assert.equal(usage().usedPercent, 80, "stopped at the low watermark");
  assert.equal(cache.cachedImages(), 2);
  assert.equal(cache.cachedBytes(), 10 * MB);
  const lines = writer.records.filter((r) => r.msg === "Removed image");
  assert.deepEqual(lines.map((r) => [r.fields.image, r.fields.reason, r.fields.size]), [
    ["docker.io/img/b:1", "disk_high", "4.8 MiB"],
    ["docker.io/img/a:1", "disk_high", "4.8 MiB"],
  ]);
  // Below the high watermark nothing more goes.
  assert.deepEqual(await cache.collect("test"), []);
});

Deno.test("never removed: a held image, one a container uses, a young one, a kept one, one the agent did not pull", async () => {
  const daemon = new MemoryDaemon();
  let clock = 10_000_000;
  const { cache, store } = cacheOver(
    daemon,
    daemon.ensure({}),
    { gc: { maxBytes: 0, minAgeMs: 60_000, keep: ["ghcr.io/team/*"] }, now: () => clock },
  );
  const held = await cache.acquire("img/held:1");
  (await cache.acquire("img/container:1")).release();
  (await cache.acquire("ghcr.io/team/base:2")).release();
  (await cache.acquire("img/old:1")).release();
  // Not pulled by the agent: present before it asked.
  daemon.images.set("docker.io/img/theirs:1", { Id: "sha256:theirs", Size: MB });
  (await cache.acquire("img/theirs:1")).release();
  daemon.containers.push({ ImageID: daemon.images.get("docker.io/img/container:1")!.Id });
  clock += 61_000;
  (await cache.acquire("img/young:1")).release();
  const removed = await cache.collect("test");
  assert.deepEqual(removed.map((r) => [r.ref, r.reason]), [["docker.io/img/old:1", "cache_cap"]]);
  assert.deepEqual(daemon.deleted, ["docker.io/img/old:1"]);
  assert.equal(store.get("docker.io/img/theirs:1"), undefined, "an image the agent did not pull is not its to track");
  held.release();
  clock += 61_000;
  const next = await cache.collect("test");
  assert.deepEqual(next.map((r) => r.ref).sort(), ["docker.io/img/held:1", "docker.io/img/young:1"]);
  assert.ok(daemon.images.has("docker.io/img/theirs:1"));
  assert.ok(daemon.images.has("docker.io/img/container:1"));
  assert.ok(daemon.images.has("ghcr.io/team/base:2"));
});

Deno.test("records survive a restart: a new cache on the same database removes what the old one pulled", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const daemon = new MemoryDaemon();
    {
      using store = ImageStore.open(`${dir}/journal.db`);
      const { cache } = cacheOver(daemon, daemon.ensure({}), { store });
      (await cache.acquire("img/a:1")).release();
      (await cache.acquire("img/b:1")).release();
    }
    // Removed by hand while the agent was down: forgotten, not counted.
    daemon.images.delete("docker.io/img/b:1");
    using store = ImageStore.open(`${dir}/journal.db`);
    assert.deepEqual(store.all().map((r) => r.ref), ["docker.io/img/a:1", "docker.io/img/b:1"]);
    const { cache } = cacheOver(daemon, daemon.ensure({}), { store, gc: { maxBytes: 0 } });
    const removed = await cache.collect("test");
    assert.deepEqual(removed.map((r) => r.ref), ["docker.io/img/a:1"]);
    assert.deepEqual(store.all(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pull whose announced layers cannot fit fails with DiskSpaceError, after a collection made what room it could", async () => {
  const daemon = new MemoryDaemon();
  let free = 50 * MB;
  const usage = (): DiskUsage => ({
    path: "/var/lib/docker",
    usedBytes: 100 * MB - free,
    freeBytes: free,
    usedPercent: 100 - free / MB,
  });
  const { cache } = cacheOver(daemon, async (image, o) => {
    // The registry announces a 30 MB layer: 60 MB once extracted.
    o.onProgress?.({ totalBytes: 30 * MB, downloadedBytes: 0 });
    return await daemon.ensure({})(image, o);
  }, { usage });
  await assert.rejects(cache.acquire("img/big:1"), (e: Error) => {
    assert.equal(e.name, "DiskSpaceError");
    assert.equal(
      e.message,
      "image docker.io/img/big:1 does not fit on this node: its layers need about 57.2 MiB (28.6 MiB compressed) " +
        "and Docker's disk has 47.7 MiB free",
    );
    return true;
  });
  assert.equal(daemon.images.size, 0);
  free = 70 * MB;
  assert.equal((await cache.acquire("img/big:1")).info.pulled, true);
});
