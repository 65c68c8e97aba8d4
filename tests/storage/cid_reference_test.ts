import assert from "node:assert/strict";
import { computeDirectoryCid, computeFileCid, EMPTY_DIRECTORY_CID } from "../../src/storage/mod.ts";
import { which } from "../support/service.ts";
import { serviceAvailable } from "../support/service.ts";
import { tempDir, writeRandomFile } from "./support.ts";

Deno.test("the 12 bytes 'hello world\\n' give QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o as CIDv0 (Kubo defaults)", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/hw`, "hello world\n");
  assert.equal(
    (await computeFileCid(`${dir.path}/hw`, { cidVersion: 0 })).toString(),
    "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
  );
  // CIDv1 as Pinata computes it with cidVersion 1: one raw leaf.
  assert.equal(
    (await computeFileCid(`${dir.path}/hw`)).toString(),
    "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
  );
});

Deno.test("an empty output directory has the well-known empty UnixFS directory CID", async () => {
  await using dir = await tempDir();
  assert.equal((await computeDirectoryCid(dir.path)).toString(), EMPTY_DIRECTORY_CID);
  assert.equal(
    (await computeDirectoryCid(dir.path, { cidVersion: 0 })).toString(),
    "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn",
  );
});

Deno.test("Debian's ipfs_cid agrees on random multi-chunk files (CIDv0 DAG: dag-pb leaves, 256 KiB, balanced)", async () => {
  const tool = which("ipfs_cid");
  if (!serviceAvailable("ipfs_cid", tool ? undefined : "ipfs_cid not installed (apt-get install ipfs-cid)")) return;
  await using dir = await tempDir();
  // 174 leaves fill one node; 174 * 256 KiB + 1 forces a second layer of the balanced tree.
  for (const size of [262_145, 3_000_000, 174 * 262_144 + 1]) {
    const path = `${dir.path}/r${size}`;
    await writeRandomFile(path, size);
    const out = await new Deno.Command(tool!, { args: [path], stdout: "piped", stderr: "null" }).output();
    assert.equal(out.code, 0);
    const ref = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n")[0]) as {
      CIDv0: string;
      CIDv1: string;
    };
    const ours = await computeFileCid(path, { cidVersion: 0 });
    assert.equal(ours.toString(), ref.CIDv0, `CIDv0 of ${size} bytes`);
    // ipfs_cid's CIDv1 is the same dag-pb DAG written as v1 (not raw leaves): compare like with like.
    assert.equal(ours.toV1().toString(), ref.CIDv1, `CIDv1 form of ${size} bytes`);
  }
});
