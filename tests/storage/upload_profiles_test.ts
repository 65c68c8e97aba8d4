/**
 * The pinned CID against the known importer profiles, through the real upload path: the local service builds CIDs
 * under the profile its mode names, and every expected CID comes from the Kubo-validated oracle (or a Kubo-made CAR),
 * not from the agent's own importer.
 */
import assert from "node:assert/strict";
import { CarReader } from "@ipld/car";
import { EMPTY_DIRECTORY_CID, Storage, type StorageError } from "../../src/storage/mod.ts";
import { startFaultyPinata } from "./faulty_pinata.ts";
import { CONFORMANCE_DIR, CONFORMANCE_TREES, deterministicBuffer, IPIP_0499 } from "./kubo_vectors.ts";
import { localStack, sameBytes, uploadTree } from "./support.ts";
import { KUBO_CIDV1, oracleFile, oracleTreeCid, UNIXFS_V1_2025 } from "./unixfs_oracle.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

const MiB = 1_048_576;
const OTHER_PROFILE = "hashing the output under another importer profile";
const OVER_CHUNK = IPIP_0499["unixfs-v1-2025"].files.find((v) => v.what === "over chunk size")!;

/** Kubo's 1 MiB + 1 vector file and a small note: their CIDs differ between the two upload profiles. */
async function vectorOutput(): Promise<Record<string, Uint8Array>> {
  return {
    "data.bin": await deterministicBuffer(OVER_CHUNK.size, OVER_CHUNK.seed!),
    "notes/readme.txt": new TextEncoder().encode("made by the job\n"),
  };
}

function countLogs(stack: Stack, msg: string): number {
  return stack.logs.records.filter((r) => r.msg === msg).length;
}

Deno.test("an output the service builds under unixfs-v1-2025 completes with the CID it pinned", async () => {
  await using stack = await localStack({}, { profile: "unixfs-v1-2025" });
  const { cid, source } = await uploadTree(stack, await vectorOutput(), "v1-2025-job");
  // The file's DAG is the one Kubo made for the same bytes under that profile.
  const file = await oracleFile(await Deno.readFile(`${source}/data.bin`), UNIXFS_V1_2025);
  assert.equal(String(file.cid), OVER_CHUNK.cid);
  assert.equal(cid, await oracleTreeCid(source, UNIXFS_V1_2025));
  assert.notEqual(cid, await oracleTreeCid(source, KUBO_CIDV1), "the two profiles give this output other CIDs");
  const warned = stack.logs.records.filter((r) => r.msg.startsWith("the service built the output with another"));
  assert.equal(warned.length, 1);
  assert.equal(warned[0].fields.profile, "unixfs-v1-2025");
  const dest = `${stack.dir}/back`;
  await stack.storage.fetchInput(cid, dest);
  assert.ok(await sameBytes(`${source}/data.bin`, `${dest}/data.bin`), "the pinned CID serves the output back");
});

Deno.test("the other profile is hashed only on a mismatch, and checked first once the service was seen using it", async () => {
  await using kubo = await localStack();
  await uploadTree(kubo, await vectorOutput(), "expected-profile");
  assert.equal(countLogs(kubo, OTHER_PROFILE), 0, "an output pinned under the expected profile is hashed once");

  await using drifted = await localStack({}, { profile: "unixfs-v1-2025" });
  await uploadTree(drifted, await vectorOutput(), "first-after-drift");
  assert.equal(countLogs(drifted, OTHER_PROFILE), 1, "the mismatch costs one more hash");
  const { cid, source } = await uploadTree(drifted, await vectorOutput(), "second-after-drift");
  assert.equal(countLogs(drifted, OTHER_PROFILE), 1, "the next output is hashed under the drifted profile first");
  assert.equal(cid, await oracleTreeCid(source, UNIXFS_V1_2025));
});

Deno.test("a pinned CID that matches no known profile fails upload_failed naming it and every local CID", async () => {
  await using stack = await localStack();
  await using proxy = startFaultyPinata(stack.service.port, ["bogus_cid"]);
  const storage = new Storage({ ...stack.config, pinataApiUrl: proxy.url }, stack.logger);
  const out = `${stack.dir}/out`;
  await Deno.mkdir(out);
  const files = await vectorOutput();
  await Deno.writeFile(`${out}/data.bin`, files["data.bin"]);
  const kuboCid = await oracleTreeCid(out, KUBO_CIDV1);
  const v2025Cid = await oracleTreeCid(out, UNIXFS_V1_2025);
  const error: StorageError = await storage.uploadOutput(out, {
    jobId: "no-match",
    agentAddress: "0x" + "12".repeat(20),
  })
    .then(() => assert.fail("expected upload_failed"), (e) => e);
  assert.equal(error.reason, "upload_failed");
  assert.equal(error.detail, "cid_mismatch");
  assert.ok(error.message.includes(`returned CID ${EMPTY_DIRECTORY_CID}`), error.message);
  assert.ok(error.message.includes(`${kuboCid} (kubo-cidv1`), error.message);
  assert.ok(error.message.includes(`${v2025Cid} (unixfs-v1-2025`), error.message);
  assert.deepEqual((await storage.listSpooledOutputs()).map((s) => s.jobId), ["no-match"], "the output stays spooled");
});

for (const tree of CONFORMANCE_TREES.filter((t) => t.chunkSize === 262_144)) {
  Deno.test(`an output holding the files of Kubo's ${tree.car} uploads to that CAR's root CID`, async () => {
    await using stack = await localStack();
    const files = Object.fromEntries(Object.entries(tree.files).map(([k, v]) => [k, new TextEncoder().encode(v)]));
    const { cid } = await uploadTree(stack, files);
    const reader = await CarReader.fromBytes(await Deno.readFile(`${CONFORMANCE_DIR}${tree.car}`));
    assert.equal(cid, String((await reader.getRoots())[0]));
  });
}

Deno.test("a 3 MiB output's CID agrees with the oracle under the service's default profile", async () => {
  await using stack = await localStack();
  const { cid, source } = await uploadTree(stack, { "a.bin": 3 * MiB, "b/c.bin": 262_145, "b/d.txt": 5 });
  assert.equal(cid, await oracleTreeCid(source, KUBO_CIDV1));
});
