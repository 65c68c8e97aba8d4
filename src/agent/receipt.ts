/**
 * Signed job receipts: the node's statement of what it ran and what came out, signed EIP-191 by the node key.
 * The signed text is `lamda-receipt-v1\n` + canonical JSON of every receipt field except `signature`.
 */
import { getAddress, type Signer } from "ethers";
import { z } from "zod";
import { canonicalJson, recoverSigner } from "../job/signature.ts";

/** Prefix of the signed receipt text; binds a signature to this purpose and version. */
export const RECEIPT_PREFIX = "lamda-receipt-v1\n";

const receiptFields = z.object({
  agent_address: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  job_id: z.string().min(1),
  output_cid: z.string(),
  image_digest: z.string(),
  exit_code: z.number().int(),
  gpu_uuids: z.array(z.string()),
  started_at: z.iso.datetime(),
  finished_at: z.iso.datetime(),
});

/** The content of a receipt, before signing. */
export type ReceiptFields = z.infer<typeof receiptFields>;

/** A signed receipt, as published with a `completed` status (field `receipt`). */
export const signedReceiptSchema = receiptFields.extend({ signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/) });
/** A signed receipt. */
export type SignedReceipt = z.infer<typeof signedReceiptSchema>;

/** The exact text that is signed for a receipt. */
export function receiptSigningText(fields: ReceiptFields): string {
  const { signature: _omit, ...rest } = fields as ReceiptFields & { signature?: string };
  return RECEIPT_PREFIX + canonicalJson(rest);
}

/** Signs a receipt with the node key; `agent_address` is set from the signer. */
export async function signReceipt(
  fields: Omit<ReceiptFields, "agent_address">,
  signer: Signer,
): Promise<SignedReceipt> {
  const fieldsWithAddress: ReceiptFields = { ...fields, agent_address: getAddress(await signer.getAddress()) };
  const signature = await signer.signMessage(receiptSigningText(fieldsWithAddress));
  return { ...fieldsWithAddress, signature };
}

/** The outcome of checking a receipt. */
export type ReceiptCheck =
  | { valid: true; receipt: SignedReceipt; signer: string }
  | { valid: false; reason: string; signer?: string };

/** Checks a receipt's shape and that its signature recovers to its `agent_address` (and to `expected`, if given). */
export function verifyReceipt(value: unknown, expected?: string): ReceiptCheck {
  const parsed = signedReceiptSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { valid: false, reason: `malformed receipt: ${issue.path.join(".") || "(root)"} ${issue.message}` };
  }
  const receipt = parsed.data;
  const signer = recoverSigner(receiptSigningText(receipt), receipt.signature);
  if (!signer) return { valid: false, reason: "signature cannot be recovered" };
  if (signer.toLowerCase() !== receipt.agent_address.toLowerCase()) {
    return { valid: false, signer, reason: `signed by ${signer}, not by agent_address ${receipt.agent_address}` };
  }
  if (expected && signer.toLowerCase() !== expected.toLowerCase()) {
    return { valid: false, signer, reason: `signed by ${signer}, expected ${expected}` };
  }
  return { valid: true, receipt, signer };
}
