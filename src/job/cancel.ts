/** Cancel requests on `jobs.cancel.<address>`: `{"job_id": "..."}` (or `jobId`), signed when `JOB_SIGNERS` is set. */
import { readableJobId } from "./schema.ts";
import { cancelSigningText, isAllowedSigner, recoverSigner } from "./signature.ts";

/** Reads a cancel request; returns the job id, or why the request is ignored. */
export function parseCancel(data: Uint8Array, signers: readonly string[]): { jobId: string } | { error: string } {
  let value: unknown;
  try {
    if (data.byteLength > 4096) return { error: "cancel message too large" };
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { error: "cancel message is not JSON" };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return { error: "cancel message is not an object" };
  const obj = value as Record<string, unknown>;
  const jobId = readableJobId(obj);
  if (!jobId) return { error: "cancel message has no valid job_id" };
  if (signers.length > 0) {
    const sig = typeof obj.signature === "string" ? obj.signature : "";
    if (!isAllowedSigner(recoverSigner(cancelSigningText(jobId), sig), signers)) {
      return { error: "cancel is not signed by an allowed signer" };
    }
  }
  return { jobId };
}
