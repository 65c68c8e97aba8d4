import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { parseJobMessage, type ParseJobOptions } from "./schema.ts";
import { canonicalJson, isAllowedSigner, jobSigningText, recoverSigner, signJob } from "./signature.ts";
import { dockerSpecChecks } from "../docker/mod.ts";

/** Parses with the real Docker checks, as the agent does. */
const parseChecked = (data: Uint8Array, options: Partial<ParseJobOptions> = {}) =>
  parseJobMessage(data, { checks: dockerSpecChecks, ...options });

// anvil's public development keys (not secrets).
const dispatcher = new Wallet("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const other = new Wallet("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("canonical JSON sorts keys at every level and has no whitespace", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, "x"], c: null } }), '{"a":{"c":null,"d":[1,"x"]},"b":1}');
});

Deno.test("the signing text is the documented prefix plus canonical snake_case fields, defaults not filled in", () => {
  const { canonicalFields } = parseChecked(enc({ jobId: "j1", dockerImage: "busybox", outputPath: "" }));
  assert.equal(jobSigningText(canonicalFields), 'lamda-job-v1\n{"image_name":"busybox","job_id":"j1"}');
});

Deno.test("a signed job verifies to its signer, also when sent with camelCase names", async () => {
  const signed = await signJob(
    { jobId: "j2", dockerImage: "busybox", env: { B: "2", A: "1" } },
    dispatcher,
    dockerSpecChecks,
  );
  const { job, canonicalFields } = parseChecked(enc(signed));
  const signer = recoverSigner(jobSigningText(canonicalFields), job.signature!);
  assert.equal(signer, dispatcher.address);
  assert.ok(isAllowedSigner(signer, [dispatcher.address.toLowerCase()]));
  assert.ok(!isAllowedSigner(signer, [other.address]));
});

Deno.test("a tampered field changes the recovered signer", async () => {
  const signed = await signJob({ job_id: "j3", image_name: "busybox", gpus: 1 }, dispatcher, dockerSpecChecks);
  const { job, canonicalFields } = parseChecked(enc({ ...signed, gpus: 2 }));
  assert.notEqual(recoverSigner(jobSigningText(canonicalFields), job.signature!), dispatcher.address);
});

Deno.test("a malformed signature recovers no signer", () => {
  assert.equal(recoverSigner("x", "0x" + "00".repeat(65)), undefined);
});
