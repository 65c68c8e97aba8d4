/**
 * The image cache against the real dockerd and a real registry: one `pull` event in Docker's `/events` for jobs that
 * want the same missing image at once, removal under the cap and the watermarks (never an image a container uses or
 * one the agent did not pull), and the disk preflight stopping a pull before its layers are downloaded.
 */
import assert from "node:assert/strict";
import { classifyError, DockerClient, ImageCache, ImageStore } from "../../src/docker/mod.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { LocalRegistry, pushFreshImage, registryMissing } from "../support/registry.ts";
import { serviceAvailable } from "../support/service.ts";
import { DOCKER_HOST, dockerReady, testEngine } from "./support/harness.ts";
import { hasImage, removeImage } from "../support/docker.ts";

const ready = await dockerReady() && serviceAvailable("docker-registry", registryMissing());

/** Docker's `/events` for images, collected from `open()` until disposal. */
async function imageEvents(): Promise<{ events: { action: string; id: string }[] } & AsyncDisposable> {
  const docker = new DockerClient(DOCKER_HOST);
  const abort = new AbortController();
  const res = await docker.request("GET", "/events", {
    query: { filters: JSON.stringify({ type: ["image"] }) },
    signal: abort.signal,
  });
  const events: { action: string; id: string }[] = [];
  const reading = (async () => {
    let buf = "";
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const e = JSON.parse(buf.slice(0, i)) as { Action?: string; status?: string; Actor?: { ID?: string } };
        buf = buf.slice(i + 1);
        events.push({ action: e.Action ?? e.status ?? "", id: e.Actor?.ID ?? "" });
      }
    }
  })().catch(() => {});
  return {
    events,
    async [Symbol.asyncDispose]() {
      abort.abort();
      await reading;
      docker.close();
    },
  };
}

Deno.test({
  name: "three jobs wanting the same missing image at once cause one pull in Docker's /events",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    await using docker = await testEngine();
    const image = `${registry.host}/${await pushFreshImage(registry, "lamda-cache/shared")}`;
    const cache = new ImageCache({
      client: docker.engine.client,
      store: ImageStore.open(":memory:"),
      ensure: (i, o) => docker.engine.ensureImage(i, o),
      logger: new Logger({ level: "warn" }),
      gc: { highPercent: 85, lowPercent: 80, minAgeMs: 0, keep: [] },
    });
    try {
      await using events = await imageEvents();
      const leases = await Promise.all([1, 2, 3].map(() => cache.acquire(image)));
      // Docker reports the pull when it ends; give the stream a moment to deliver it.
      await new Promise((r) => setTimeout(r, 300));
      const pulls = events.events.filter((e) => e.action === "pull");
      assert.deepEqual(pulls.map((e) => e.id), [image], "one pull event for three jobs");
      assert.equal(new Set(leases.map((l) => l.info.id)).size, 1);
      assert.ok(leases.every((l) => l.info.sizeBytes > 1_000_000), "the size comes from dockerd");
      for (const l of leases) l.release();
    } finally {
      await removeImage(docker.engine.client, image);
    }
  },
});

Deno.test({
  name: "over the cap and above the watermark: LRU images the agent pulled go; a container's image and others' stay",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    await using docker = await testEngine();
    const dir = await Deno.makeTempDir();
    const [a, b, c] = await Promise.all(
      ["a", "b", "c"].map(async (n) => `${registry.host}/${await pushFreshImage(registry, `lamda-cache/${n}`)}`),
    );
    const writer = new MemoryWriter();
    const logger = new Logger({ level: "info", writer });
    let container: string | undefined;
    try {
      const cacheWith = (gc: { maxBytes?: number; highPercent?: number; lowPercent?: number }, store: ImageStore) =>
        new ImageCache({
          client: docker.engine.client,
          store,
          ensure: (i, o) => docker.engine.ensureImage(i, o),
          logger,
          gc: { highPercent: 85, lowPercent: 80, minAgeMs: 0, keep: [], ...gc },
          dataRoot: docker.engine.capabilities.dataRoot,
        });
      {
        using store = ImageStore.open(`${dir}/journal.db`);
        const cache = cacheWith({}, store);
        for (const image of [a, b, c]) (await cache.acquire(image)).release();
        assert.deepEqual(await cache.collect("test"), [], "under the watermarks, no cap: nothing goes");
      }
      // b is used by a (stopped) container; the test image was not pulled by the agent.
      const created = await docker.engine.client.json<{ Id: string }>("POST", "/containers/create", {
        body: { Image: b, Cmd: ["true"] },
      });
      container = created.Id;

      // After a restart (a new store on the same database), a cap of one byte: everything unused that it pulled.
      using store = ImageStore.open(`${dir}/journal.db`);
      const capped = cacheWith({ maxBytes: 1 }, store);
      const removed = await capped.collect("test");
      assert.deepEqual(removed.map((r) => [r.ref, r.reason]), [[`${a}`, "cache_cap"], [`${c}`, "cache_cap"]]);
      assert.equal(await hasImage(docker.engine.client, a), false);
      assert.equal(await hasImage(docker.engine.client, c), false);
      assert.equal(await hasImage(docker.engine.client, b), true, "a container uses it");
      assert.equal(await hasImage(docker.engine.client, docker.image), true, "the agent did not pull it");
      const logged = writer.records.filter((r) => r.msg === "Removed image").map((
        r,
      ) => [r.fields.image, r.fields.reason]);
      assert.deepEqual(logged, [[a, "cache_cap"], [c, "cache_cap"]]);

      // The container gone, the real data root's filesystem is above a 1% watermark: b goes too.
      await docker.engine.client.send("DELETE", `/containers/${container}`, { query: { force: true } });
      container = undefined;
      const full = cacheWith({ highPercent: 1, lowPercent: 0 }, store);
      const usage = await full.usage();
      assert.ok(usage && usage.usedPercent > 1, `the data root's usage is read: ${JSON.stringify(usage)}`);
      assert.deepEqual((await full.collect("test")).map((r) => [r.ref, r.reason]), [[b, "disk_high"]]);
      assert.equal(await hasImage(docker.engine.client, b), false);
      assert.equal(await hasImage(docker.engine.client, docker.image), true, "still not the agent's to remove");
      assert.ok(
        writer.records.some((r) =>
          r.msg === "Docker's disk stays above IMAGE_GC_LOW_PERCENT: no more images may be removed"
        ),
      );
    } finally {
      if (container) await docker.engine.client.send("DELETE", `/containers/${container}`, { query: { force: true } });
      for (const image of [a, b, c]) await removeImage(docker.engine.client, image);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a pull whose layers cannot fit in Docker's free space fails disk_full before it downloads them",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    await using docker = await testEngine();
    const image = `${registry.host}/${await pushFreshImage(registry, "lamda-cache/big")}`;
    const layers = await registry.manifest(image.slice(registry.host.length + 1));
    const compressed = layers.layers.reduce((n, l) => n + l.size, 0);
    let free = compressed; // room for the compressed layers, not for them extracted too
    const cache = new ImageCache({
      client: docker.engine.client,
      store: ImageStore.open(":memory:"),
      ensure: (i, o) => docker.engine.ensureImage(i, o),
      logger: new Logger({ level: "warn" }),
      gc: { highPercent: 99, lowPercent: 98, minAgeMs: 0, keep: [] },
      dataRoot: "/simulated",
      usage: (path) => Promise.resolve({ path, usedBytes: 1, freeBytes: free, usedPercent: 1 }),
    });
    try {
      const error = await cache.acquire(image).then(() => assert.fail("it cannot fit"), (e: Error) => e);
      assert.equal(error.name, "DiskSpaceError");
      assert.match(error.message, new RegExp(`^image ${image} does not fit on this node: its layers need about `));
      const status = classifyError(error);
      assert.equal(status.reason, "disk_full");
      assert.equal(status.message, error.message, "sizes only: nothing to hide");
      assert.equal(
        await hasImage(docker.engine.client, image),
        false,
        "the pull stopped; nothing half-pulled was kept",
      );
      free = 10 * compressed;
      const lease = await cache.acquire(image);
      assert.equal(lease.info.pulled, true);
      lease.release();
    } finally {
      await removeImage(docker.engine.client, image);
    }
  },
});
