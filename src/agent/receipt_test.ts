import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { signReceipt, verifyReceipt } from "./receipt.ts";

// anvil's public development key #4: a test key, not a secret.
const wallet = new Wallet("0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a");
const fields = {
  job_id: "job-42",
  output_cid: "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
  image_digest: "sha256:" + "ab".repeat(32),
  exit_code: 0,
  gpu_uuids: ["GPU-11111111-2222-3333-4444-555555555555"],
  started_at: "2026-11-29T10:00:00.000Z",
  finished_at: "2026-11-29T10:05:00.000Z",
};

Deno.test("a signed receipt verifies and names its signer", async () => {
  const receipt = await signReceipt(fields, wallet);
  assert.equal(receipt.agent_address, wallet.address);
  const check = verifyReceipt(JSON.parse(JSON.stringify(receipt)), wallet.address);
  assert.ok(check.valid, JSON.stringify(check));
  assert.equal(check.signer, wallet.address);
});

Deno.test("a tampered receipt fails, whichever field was changed", async () => {
  const receipt = await signReceipt(fields, wallet);
  const tampered: [string, unknown][] = [
    ["output_cid", "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"],
    ["exit_code", 1],
    ["gpu_uuids", []],
    ["finished_at", "2026-11-29T11:05:00.000Z"],
    ["job_id", "job-43"],
  ];
  for (const [field, value] of tampered) {
    const check = verifyReceipt({ ...receipt, [field]: value });
    assert.equal(check.valid, false, `changing ${field} must invalidate the receipt`);
  }
});

Deno.test("a receipt signed by another key, or not by the expected node, fails", async () => {
  const other = new Wallet("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6");
  const forged = { ...(await signReceipt(fields, other)), agent_address: wallet.address };
  const check = verifyReceipt(forged);
  assert.equal(check.valid, false);
  assert.match((check as { reason: string }).reason, /signed by 0x/);
  const honest = await signReceipt(fields, other);
  assert.equal(verifyReceipt(honest, wallet.address).valid, false);
});

Deno.test("a malformed receipt is reported, not thrown", () => {
  const check = verifyReceipt({ job_id: "x" });
  assert.equal(check.valid, false);
  assert.match((check as { reason: string }).reason, /malformed receipt/);
});
