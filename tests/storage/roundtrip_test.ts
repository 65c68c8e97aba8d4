import assert from "node:assert/strict";
import { computeDirectoryCid, computeFileCid } from "../../src/storage/mod.ts";
import { localStack, sameBytes, uploadTree } from "./support.ts";
import { KUBO_CIDV1, oracleTreeCid } from "./unixfs_oracle.ts";

const SIZES = [0, 1, 262_144 - 1, 262_144, 262_144 + 1, 1_048_576 + 1];

Deno.test("files of 0 B, 1 B, 256 KiB ± 1 and 1 MiB + 1 round-trip byte-identical through upload and verified fetch", async () => {
  await using stack = await localStack();
  for (const size of SIZES) {
    const { cid, source } = await uploadTree(stack, { "data.bin": size });
    const dest = `${stack.dir}/in-${size}`;
    const res = await stack.storage.fetchInput(cid, dest);
    assert.equal(res.bytes, size, `decoded bytes for ${size}`);
    assert.equal(res.files, 1);
    assert.ok(await sameBytes(`${source}/data.bin`, `${dest}/data.bin`), `content of ${size} B file`);
    assert.equal(cid, (await computeDirectoryCid(source)).toString());
    assert.equal(cid, await oracleTreeCid(source, KUBO_CIDV1), `the Kubo-validated oracle agrees for ${size} B`);
  }
});

Deno.test("a single-file CID lands as <dir>/input, byte-identical", async () => {
  await using stack = await localStack();
  const { source } = await uploadTree(stack, { "only.bin": 300_000 });
  // The service stored the file's DAG inside the directory; its own CID names it alone.
  const single = (await computeFileCid(`${source}/only.bin`)).toString();
  const dest = `${stack.dir}/single`;
  const res = await stack.storage.fetchInput(single, dest);
  assert.deepEqual(res.files, 1);
  assert.deepEqual([...Deno.readDirSync(dest)].map((e) => e.name), ["input"]);
  assert.ok(await sameBytes(`${source}/only.bin`, `${dest}/input`));
});

Deno.test("a nested directory with empty, small and multi-chunk files round-trips with its tree intact", async () => {
  await using stack = await localStack();
  const files = {
    "a.txt": new TextEncoder().encode("hello\n"),
    "empty": new Uint8Array(0),
    "sub/b.bin": 700_000,
    "sub/deeper/c.bin": 1,
    "sub/deeper/d e f.txt": new TextEncoder().encode("spaces in names\n"),
  };
  const { cid, source } = await uploadTree(stack, files);
  const dest = `${stack.dir}/nested-in`;
  const res = await stack.storage.fetchInput(cid, dest);
  assert.equal(res.files, 5);
  assert.equal(cid, await oracleTreeCid(source, KUBO_CIDV1), "the Kubo-validated oracle agrees");
  for (const rel of Object.keys(files)) assert.ok(await sameBytes(`${source}/${rel}`, `${dest}/${rel}`), rel);
  assert.equal(cid, (await computeDirectoryCid(dest)).toString(), "re-importing the fetched tree gives the same CID");
});

Deno.test("a 50 MiB random file round-trips byte-identical", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "big.bin": 50 * 1024 * 1024 });
  const dest = `${stack.dir}/big-in`;
  const res = await stack.storage.fetchInput(cid, dest);
  assert.equal(res.bytes, 50 * 1024 * 1024);
  assert.ok(await sameBytes(`${source}/big.bin`, `${dest}/big.bin`));
});
