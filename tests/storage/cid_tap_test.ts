import assert from "node:assert/strict";
import { CidTap, computeTreeCid, TAP_QUEUE_BYTES } from "../../src/storage/compute_cid.ts";
import { multipartBody } from "../../src/storage/multipart_body.ts";
import { type OutputTree, scanOutput } from "../../src/storage/output_tree.ts";
import { writeRandomFile } from "./support.ts";

const MiB = 1024 * 1024;

/** Runs `fn` on a directory with a large file (over the tap's queue bound), a small one and an empty one. */
async function withOutput(fn: (dir: string, tree: OutputTree, expected: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cid-tap-" });
  try {
    await Deno.mkdir(`${dir}/sub`);
    await writeRandomFile(`${dir}/big.bin`, TAP_QUEUE_BYTES + 3 * MiB + 17);
    await Deno.writeTextFile(`${dir}/sub/small.txt`, "small\n");
    await Deno.writeFile(`${dir}/sub/empty`, new Uint8Array());
    const tree = await scanOutput(dir, { maxBytes: Number.MAX_SAFE_INTEGER });
    await fn(dir, tree, String(await computeTreeCid(dir, tree)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends the tree's upload body through `feed` (as the first upload attempt does), stopping after `limit` bytes. */
async function sendBody(dir: string, tree: OutputTree, feed: CidTap["feed"], limit = Infinity): Promise<void> {
  const body = multipartBody(
    tree.entries.filter((e) => e.kind === "file").map((e) => ({
      name: "file",
      filename: `out/${e.path}`,
      path: `${dir}/${e.path}`,
      size: e.size,
    })),
  );
  let sent = 0;
  for await (const chunk of body.chunks(undefined, undefined, feed)) {
    sent += chunk.byteLength;
    if (sent >= limit) return;
  }
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a fully fed tap computes the CID of the fed bytes, reading nothing from disk", async () => {
  await withOutput(async (dir, tree, expected) => {
    const zeros = await Deno.makeTempDir({ prefix: "cid-tap-zeros-" });
    try {
      // The same names and sizes, every byte zero: a tap that read the disk would compute their CID.
      for (const e of tree.entries) {
        if (e.kind === "dir") await Deno.mkdir(`${zeros}/${e.path}`, { recursive: true });
        else await Deno.writeFile(`${zeros}/${e.path}`, new Uint8Array(e.size));
      }
      assert.notEqual(String(await computeTreeCid(zeros, tree)), expected);
      const tap = new CidTap(zeros, tree);
      for (const e of tree.entries) {
        if (e.kind !== "file") continue;
        const bytes = await Deno.readFile(`${dir}/${e.path}`);
        for (let off = 0; off < bytes.length; off += MiB) {
          await tap.feed(`${zeros}/${e.path}`, off, bytes.subarray(off, off + MiB));
        }
      }
      tap.detach();
      assert.equal(String(await tap.cid), expected);
    } finally {
      await Deno.remove(zeros, { recursive: true });
    }
  });
});

Deno.test("a tap detached part way through a file reads the rest of it, and the files not fed, from disk", async () => {
  await withOutput(async (dir, tree, expected) => {
    for (const limit of [0, 1, 3 * MiB + 5, TAP_QUEUE_BYTES + 3 * MiB + 300]) {
      const tap = new CidTap(dir, tree);
      await sendBody(dir, tree, tap.feed, limit);
      tap.detach();
      assert.equal(String(await tap.cid), expected, `detached after ${limit} bytes of body`);
    }
  });
});

Deno.test("a tap ignores bytes sent again (a retry) and bytes fed after it was detached", async () => {
  await withOutput(async (dir, tree, expected) => {
    const tap = new CidTap(dir, tree);
    const junk = new Uint8Array(MiB).fill(1);
    await sendBody(dir, tree, tap.feed, 2 * MiB);
    // The same offsets again, with other bytes: not the next bytes of the file, so ignored.
    await tap.feed(`${dir}/big.bin`, 0, junk);
    await tap.feed(`${dir}/big.bin`, MiB, junk);
    tap.detach();
    await tap.feed(`${dir}/big.bin`, 2 * MiB, junk);
    await tap.feed(`${dir}/sub/small.txt`, 0, junk);
    assert.equal(String(await tap.cid), expected);
  });
});

Deno.test("an abort ends a tap waiting for bytes: the CID rejects and a waiting feed returns", async () => {
  await withOutput(async (dir, tree) => {
    const abort = new AbortController();
    const tap = new CidTap(dir, tree, { signal: abort.signal });
    await sendBody(dir, tree, tap.feed, 2 * MiB);
    abort.abort(new Error("stop"));
    await assert.rejects(tap.cid, /stop/);
    await tap.feed(`${dir}/big.bin`, 2 * MiB, new Uint8Array(MiB));
  });
});

Deno.test("a tap holds at most TAP_QUEUE_BYTES the importer has not taken, across files: then feed waits", async () => {
  // 70 files of 1 MiB; the first 50 (the importer's first batch) are never fed, so that batch cannot finish and the
  // files after it are not taken: whatever is fed for them waits in the tap.
  const dir = await Deno.makeTempDir({ prefix: "cid-tap-bound-" });
  try {
    const names = Array.from({ length: 70 }, (_, i) => `f${String(i).padStart(2, "0")}`);
    for (const name of names) await writeRandomFile(`${dir}/${name}`, MiB);
    const tree = await scanOutput(dir, { maxBytes: Number.MAX_SAFE_INTEGER });
    const expected = String(await computeTreeCid(dir, tree));
    const tap = new CidTap(dir, tree);
    let fed = 0;
    let waiting: Promise<void> | undefined;
    for (const name of names.slice(50)) {
      const feeding = tap.feed(`${dir}/${name}`, 0, await Deno.readFile(`${dir}/${name}`));
      const done = await settlesWithin(feeding, 200);
      fed += MiB;
      if (!done) {
        waiting = feeding;
        break;
      }
    }
    assert.ok(waiting, "feed must wait once the bound is reached");
    assert.ok(fed <= TAP_QUEUE_BYTES + MiB, `fed ${fed} bytes before waiting`);
    assert.ok(fed >= TAP_QUEUE_BYTES, `waited after only ${fed} bytes`);
    tap.detach();
    await waiting;
    assert.equal(String(await tap.cid), expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
