import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { signCancel } from "./signature.ts";
import { parseCancel } from "./cancel.ts";

const dispatcher = new Wallet("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const stranger = new Wallet("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("cancel requests: either spelling; bad ones name why they are ignored", () => {
  assert.deepEqual(parseCancel(enc({ job_id: "a" }), []), { jobId: "a" });
  assert.deepEqual(parseCancel(enc({ jobId: "b" }), []), { jobId: "b" });
  assert.ok("error" in parseCancel(enc([1]), []));
  assert.ok("error" in parseCancel(enc({ job_id: "" }), []));
  assert.ok("error" in parseCancel(new TextEncoder().encode("{"), []));
});

Deno.test("with JOB_SIGNERS, only a cancel signed by an allowed signer counts", async () => {
  const signers = [dispatcher.address];
  assert.deepEqual(parseCancel(enc(await signCancel("j", dispatcher)), signers), { jobId: "j" });
  assert.ok("error" in parseCancel(enc(await signCancel("j", stranger)), signers));
  assert.ok("error" in parseCancel(enc({ ...(await signCancel("j", dispatcher)), job_id: "k" }), signers));
  assert.ok("error" in parseCancel(enc({ job_id: "j" }), signers));
});
