/**
 * `doctor`'s Pinata row proves the key can upload, not only authenticate: against the local service with keys scoped
 * as Pinata's key form scopes them (legacy endpoints `pinFileToIPFS`, `unpin`; `testAuthentication` needs none).
 */
import assert from "node:assert/strict";
import { checkPinata } from "../../src/agent/doctor_network.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { computeDirectoryCid, PinataClient, PROBE_FILE } from "../../src/storage/mod.ts";
import { localStack, tempDir, TEST_JWT } from "./support.ts";
import { KUBO_CIDV1, oracleTreeCid } from "./unixfs_oracle.ts";

const UPLOAD_ONLY = "eyJ.upload-only-scoped-key.sig";
const AUTH_ONLY = "eyJ.no-scopes-key.sig";

function configFor(url: string, jwt: string) {
  return loadConfig({ env: { PINATA_API_URL: url, PINATA_JWT: jwt } }).config;
}

/** The probe's CID as the oracle computes it: the one-file directory the probe uploads. */
async function probeCid(): Promise<string> {
  await using dir = await tempDir();
  await Deno.writeFile(`${dir.path}/${PROBE_FILE.path}`, PROBE_FILE.content);
  assert.equal(await oracleTreeCid(dir.path, KUBO_CIDV1), String(await computeDirectoryCid(dir.path)));
  return await oracleTreeCid(dir.path, KUBO_CIDV1);
}

function client(url: string, jwt: string): PinataClient {
  return new PinataClient({ apiUrl: url, jwt, retries: 0, backoffBaseMs: 0, attemptTimeoutMs: 5000 });
}

const scopedKeys = { [UPLOAD_ONLY]: ["pinFileToIPFS"] as const, [AUTH_ONLY]: [] as const };

Deno.test("doctor passes a key that can upload and unpin: the probe is pinned, its CID checked, then unpinned", async () => {
  await using stack = await localStack({}, { scopedKeys });
  const outcome = await checkPinata(configFor(stack.service.url, TEST_JWT));
  assert.equal(outcome.level, "pass", outcome.found);
  const cid = await probeCid();
  assert.match(outcome.found, new RegExp(`pinned an upload probe as ${cid} \\(kubo-cidv1`));
  assert.match(outcome.found, /the probe was unpinned/);
  // Unpinned already: a second unpin is refused by the service.
  await assert.rejects(client(stack.service.url, TEST_JWT).unpin(cid), /HTTP 400/);
});

Deno.test("doctor passes a key without the unpin scope and says the probe stays pinned", async () => {
  await using stack = await localStack({}, { scopedKeys });
  const outcome = await checkPinata(configFor(stack.service.url, UPLOAD_ONLY));
  assert.equal(outcome.level, "pass", outcome.found);
  assert.match(outcome.found, /stays pinned .*no unpin scope/);
  assert.equal(await client(stack.service.url, TEST_JWT).unpin(await probeCid()), true, "the probe is still pinned");
});

Deno.test("doctor fails a key that authenticates but may not upload, naming the pinFileToIPFS scope", async () => {
  await using stack = await localStack({}, { scopedKeys });
  await client(stack.service.url, AUTH_ONLY).testAuthentication();
  const outcome = await checkPinata(configFor(stack.service.url, AUTH_ONLY));
  assert.equal(outcome.level, "fail");
  assert.match(outcome.found, /accepted the JWT but refused an upload: .*HTTP 403/);
  assert.match(outcome.fix ?? "", /pinFileToIPFS/);
  assert.ok(!outcome.found.includes(AUTH_ONLY) && !(outcome.fix ?? "").includes(AUTH_ONLY), "the JWT is not shown");
});

Deno.test("doctor fails an unknown key at testAuthentication, before any upload", async () => {
  await using stack = await localStack({}, { scopedKeys });
  const outcome = await checkPinata(configFor(stack.service.url, "eyJ.unknown.sig"));
  assert.equal(outcome.level, "fail");
  assert.match(outcome.found, /rejected the JWT \(HTTP 401\)/);
  assert.match(outcome.fix ?? "", /PINATA_JWT/);
});

Deno.test("doctor's probe passes against a service that builds CIDs under unixfs-v1-2025", async () => {
  await using stack = await localStack({}, { profile: "unixfs-v1-2025" });
  const outcome = await checkPinata(configFor(stack.service.url, TEST_JWT));
  assert.equal(outcome.level, "pass", outcome.found);
  assert.ok(outcome.found.includes(await probeCid()));
});
