/**
 * Job signatures (docs/wire-contract.md §6): EIP-191 `personal_sign` over a canonical encoding of the job's fields.
 * The encoding is specified in docs/jobs.md so dispatchers in any language can produce it.
 */
import { getAddress, verifyMessage } from "ethers";
import type { Signer } from "ethers";
import { parseJobValue } from "./schema.ts";
import type { SpecChecks } from "./schema.ts";

/** Prefix of the signed text for jobs; binds a signature to this purpose and version. */
export const JOB_SIGNING_PREFIX = "lamda-job-v1\n";
/** Prefix of the signed text for cancel requests. */
export const CANCEL_SIGNING_PREFIX = "lamda-cancel-v1\n";

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, arrays in order,
 * strings and numbers as `JSON.stringify` writes them. `undefined` members are dropped.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("Cannot encode a non-finite number");
  return JSON.stringify(value);
}

/** The exact text a dispatcher signs for a job, from its canonical (snake_case, no defaults, no signature) fields. */
export function jobSigningText(canonicalFields: Record<string, unknown>): string {
  const { signature: _omit, ...rest } = canonicalFields;
  return JOB_SIGNING_PREFIX + canonicalJson(rest);
}

/** The exact text a dispatcher signs for a cancel request. */
export function cancelSigningText(jobId: string): string {
  return CANCEL_SIGNING_PREFIX + canonicalJson({ job_id: jobId });
}

/** Recovers the EIP-55 signer of `text`, or undefined when the signature is malformed. */
export function recoverSigner(text: string, signature: string): string | undefined {
  try {
    return getAddress(verifyMessage(text, signature));
  } catch {
    return undefined;
  }
}

/** Whether `signer` is one of `allowed` (addresses compared case-insensitively). */
export function isAllowedSigner(signer: string | undefined, allowed: readonly string[]): boolean {
  if (!signer) return false;
  const s = signer.toLowerCase();
  return allowed.some((a) => a.toLowerCase() === s);
}

/**
 * Signs a job message for dispatch: validates `fields` (either spelling) exactly as the agent will, signs the
 * canonical text and returns a copy of `fields` with `signature` set. Used by the `submit` command and by tests.
 */
export async function signJob<T extends Record<string, unknown>>(
  fields: T,
  wallet: Pick<Signer, "signMessage">,
  checks: SpecChecks,
): Promise<T & { signature: string }> {
  const { signature: _drop, ...unsigned } = fields;
  const { canonicalFields } = parseJobValue(unsigned, checks);
  const signature = await wallet.signMessage(jobSigningText(canonicalFields));
  return { ...(unsigned as T), signature };
}

/** Signs a cancel request for `jobId`. */
export async function signCancel(
  jobId: string,
  wallet: Pick<Signer, "signMessage">,
): Promise<{ job_id: string; signature: string }> {
  return { job_id: jobId, signature: await wallet.signMessage(cancelSigningText(jobId)) };
}
