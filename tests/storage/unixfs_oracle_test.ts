/**
 * The output-CID oracle and the agent's importer profiles against ground truth the project did not write: the
 * Kubo-made gateway-conformance CARs (rebuilt from their recipes), the Kubo test vectors of IPIP-0499, and Debian's
 * independent `ipfs_cid`.
 */
import assert from "node:assert/strict";
import { CarReader } from "@ipld/car";
import { decode as decodePb } from "@ipld/dag-pb";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { type ImportCandidate, importer } from "ipfs-unixfs-importer";
import { CID_PROFILES, computeDirectoryCid, profileImporterOptions } from "../../src/storage/mod.ts";
import { serviceAvailable, which } from "../support/service.ts";
import {
  CONFORMANCE_DIR,
  CONFORMANCE_TREES,
  deterministicNames,
  IPIP_0499,
  SYMLINK_CAR_FOO,
  vectorBytes,
} from "./kubo_vectors.ts";
import { tempDir, writeRandomFile } from "./support.ts";
import {
  KUBO_CIDV1,
  oracleFile,
  type OracleProfile,
  oracleTreeCid,
  UNIXFS_V0_2015,
  UNIXFS_V1_2025,
} from "./unixfs_oracle.ts";

const ORACLE: Record<keyof typeof IPIP_0499, OracleProfile> = {
  "unixfs-v0-2015": UNIXFS_V0_2015,
  "unixfs-v1-2025": UNIXFS_V1_2025,
};

async function carRoot(name: string): Promise<string> {
  const reader = await CarReader.fromBytes(await Deno.readFile(`${CONFORMANCE_DIR}${name}`));
  return String((await reader.getRoots())[0]);
}

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const path = `${root}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
}

const discard = { put: (cid: unknown) => Promise.resolve(cid) };

async function importedCid(candidates: ImportCandidate[], profile: keyof typeof CID_PROFILES): Promise<string> {
  let last;
  // deno-lint-ignore no-explicit-any
  for await (const entry of importer(candidates, discard as any, profileImporterOptions(CID_PROFILES[profile]))) {
    last = entry;
  }
  return String(last!.cid);
}

for (const tree of CONFORMANCE_TREES) {
  Deno.test(`the oracle and the agent's importer rebuild Kubo's ${tree.car} from its recipe`, async () => {
    await using dir = await tempDir();
    await writeTree(dir.path, tree.files);
    const expected = await carRoot(tree.car);
    const oracle = { ...KUBO_CIDV1, chunkSize: tree.chunkSize };
    assert.equal(await oracleTreeCid(dir.path, oracle), expected, "oracle");
    const chunker = fixedSize({ chunkSize: tree.chunkSize });
    assert.equal(String(await computeDirectoryCid(dir.path, { importer: { chunker } })), expected, "agent importer");
  });
}

Deno.test("the oracle gives the CIDv0 of symlink.car's file as Kubo 0.18 did (dag-pb leaf)", async () => {
  const reader = await CarReader.fromBytes(await Deno.readFile(`${CONFORMANCE_DIR}${SYMLINK_CAR_FOO.car}`));
  const root = (await reader.getRoots())[0];
  const link = decodePb((await reader.get(root))!.bytes).Links.find((l) => l.Name === "foo")!;
  const node = await oracleFile(new TextEncoder().encode(SYMLINK_CAR_FOO.content), UNIXFS_V0_2015);
  assert.equal(String(node.cid), String(link.Hash));
  assert.equal(node.tsize, link.Tsize);
});

for (
  const [name, vectors] of Object.entries(IPIP_0499) as [keyof typeof IPIP_0499, typeof IPIP_0499["unixfs-v0-2015"]][]
) {
  Deno.test(`the oracle and the agent's ${name} profile give Kubo's IPIP-0499 file CIDs`, async () => {
    for (const v of vectors.files) {
      assert.equal(String((await oracleFile(vectorBytes(v), ORACLE[name])).cid), v.cid, `oracle: ${v.what}`);
      assert.equal(await importedCid([{ content: vectorBytes(v) }], name), v.cid, `importer: ${v.what}`);
    }
  });

  Deno.test(`the agent's ${name} profile shards directories where Kubo does (IPIP-0499 HAMT vectors)`, async () => {
    for (const v of vectors.directories) {
      const names = await deterministicNames(v.count, v.nameLen, v.lastNameLen, v.seed);
      const x = Uint8Array.of(0x78);
      const cid = await importedCid(names.map((n) => ({ path: `rootDir/${n}`, content: x })), name);
      assert.equal(cid, v.cid, v.what);
    }
  });
}

Deno.test("the oracle agrees with Debian's ipfs_cid on CIDv0 of random files up to a two-level tree", async () => {
  const tool = which("ipfs_cid");
  if (!serviceAvailable("ipfs_cid", tool ? undefined : "ipfs_cid not installed (apt-get install ipfs-cid)")) return;
  await using dir = await tempDir();
  for (const size of [0, 1, 262_144, 262_145, 174 * 262_144 + 1]) {
    const path = `${dir.path}/r${size}`;
    await writeRandomFile(path, size);
    const out = await new Deno.Command(tool!, { args: [path], stdout: "piped", stderr: "null" }).output();
    assert.equal(out.code, 0);
    const ref = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n")[0]) as { CIDv0: string };
    const node = await oracleFile(await Deno.readFile(path), UNIXFS_V0_2015);
    assert.equal(String(node.cid), ref.CIDv0, `${size} bytes`);
  }
});
