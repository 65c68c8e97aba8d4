/** The input's disk preflight: an input that cannot fit on DATA_DIR's disk fails `disk_full` before it is downloaded. */
import assert from "node:assert/strict";
import { Storage, type StorageError } from "../../src/storage/mod.ts";
import { localStack, uploadTree } from "./support.ts";

const MiB = 1024 * 1024;

Deno.test("an input larger than the free space fails disk_full from its root block, with nothing left behind", async () => {
  await using stack = await localStack();
  const { cid } = await uploadTree(stack, { "weights.bin": 8 * MiB, "cfg.json": new TextEncoder().encode("{}\n") });
  const asked: string[] = [];
  const tight = new Storage(stack.config, stack.logger, {
    fetchBackoffMs: 10,
    freeBytes: (path) => (asked.push(path), Promise.resolve(4 * MiB)),
  });
  const dest = `${stack.dir}/in-tight`;
  const moved: number[] = [];
  const error = await tight.fetchInput(cid, dest, { onBytes: (n) => moved.push(n) }).then(
    () => assert.fail("an 8 MiB input cannot fit in 4 MiB"),
    (e: StorageError) => e,
  );
  assert.equal(error.reason, "disk_full");
  assert.match(error.message, new RegExp(`^The input ${cid} declares 8\\.0 MiB; fetching it needs about 16\\.0 MiB`));
  assert.match(error.message, /DATA_DIR's disk has 4\.0 MiB free$/);
  assert.deepEqual(asked, [stack.config.dataDir], "DATA_DIR's filesystem is the one measured");
  const verified = moved.reduce((a, b) => a + b, 0);
  assert.ok(verified < 2 * MiB, `stopped at the root, not after the download (${verified} bytes verified)`);
  assert.deepEqual([...Deno.readDirSync(dest)], [], "nothing stays in the input directory");

  // The same input with room to spare (files + spool) is fetched whole.
  const roomy = new Storage(stack.config, stack.logger, { freeBytes: () => Promise.resolve(17 * MiB) });
  const ok = await roomy.fetchInput(cid, `${stack.dir}/in-roomy`);
  assert.equal(ok.bytes, 8 * MiB + 3);
  // Unknown free space (statfs refused) is no reason to refuse a job.
  const unknown = new Storage(stack.config, stack.logger, { freeBytes: () => Promise.resolve(undefined) });
  assert.equal((await unknown.fetchInput(cid, `${stack.dir}/in-unknown`)).files, 2);
});
