/** Parses and validates one job message (docs/wire-contract.md §3): size cap, JSON, aliases, caps, CID and Docker checks. */
import { z } from "zod";
import { CID } from "multiformats/cid";
import type { Job } from "./types.ts";
import { InvalidJobError } from "./errors.ts";

/** Job ids: 1–128 letters, digits, `._:-`. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Default cap on a job message, in bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** Hard caps on the optional extensions; operator limits (Docker component) apply on top. */
export const JOB_CAPS = {
  imageChars: 512,
  cidChars: 256,
  commandItems: 256,
  commandItemChars: 8192,
  envEntries: 256,
  envValueChars: 32768,
  gpus: 64,
  timeoutSeconds: 30 * 24 * 3600,
  memoryMb: 16 * 1024 * 1024,
  cpus: 1024,
} as const;

const noNul = (s: string) => !s.includes("\0");

const jobId = z.string().regex(JOB_ID_PATTERN, "must be 1-128 letters, digits or ._:-");
const optionalText = (max: number) =>
  z.string().max(max).refine(noNul, "must not contain NUL").optional().or(z.null().transform(() => undefined));

/** The wire shape, both spellings; unknown fields are dropped by zod's default object mode. */
const wireSchema = z.object({
  job_id: jobId.optional(),
  jobId: jobId.optional(),
  image_name: optionalText(JOB_CAPS.imageChars),
  dockerImage: optionalText(JOB_CAPS.imageChars),
  input_file_cid: optionalText(JOB_CAPS.cidChars),
  inputFileCID: optionalText(JOB_CAPS.cidChars),
  output_path: optionalText(4096),
  outputPath: optionalText(4096),
  command: z.array(z.string().max(JOB_CAPS.commandItemChars).refine(noNul, "must not contain NUL"))
    .min(1).max(JOB_CAPS.commandItems).optional(),
  env: z.record(
    z.string().min(1).max(256).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "env names are letters, digits and _"),
    z.string().max(JOB_CAPS.envValueChars).refine(noNul, "must not contain NUL"),
  ).refine((e) => Object.keys(e).length <= JOB_CAPS.envEntries, `at most ${JOB_CAPS.envEntries} env entries`)
    .optional(),
  gpus: z.number().int().min(0).max(JOB_CAPS.gpus).optional(),
  timeout_seconds: z.number().int().min(1).max(JOB_CAPS.timeoutSeconds).optional(),
  resources: z.object({
    memory_mb: z.number().int().min(1).max(JOB_CAPS.memoryMb).optional(),
    cpus: z.number().positive().max(JOB_CAPS.cpus).optional(),
  }).optional(),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "must be a 65-byte hex signature").optional(),
});

/** A parsed message: the job, and the message fields in canonical (snake_case, defaults not filled) form. */
export interface ParsedJob {
  job: Job;
  /** Exactly the fields the sender gave, under their snake_case names, signature excluded (see signature.ts). */
  canonicalFields: Record<string, unknown>;
}

/** Field checks owned by the Docker component; each throws on a value a container must never see. */
export interface SpecChecks {
  imageReference(ref: string): void;
  outputPath(path: string): string;
  env(env: Record<string, string>): Record<string, string>;
}

/** Options for {@linkcode parseJobMessage}. */
export interface ParseJobOptions {
  maxBytes?: number;
  /** The container-side checks (image reference, output path, env): the Docker component's, injected. */
  checks: SpecChecks;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses one job message; throws {@linkcode InvalidJobError} (with `jobId` when readable) on anything invalid. */
export function parseJobMessage(data: Uint8Array, options: ParseJobOptions): ParsedJob {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (data.byteLength > maxBytes) {
    throw new InvalidJobError(`Job message is ${data.byteLength} bytes, over the ${maxBytes}-byte limit`, {
      jobId: sniffJobId(data),
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new InvalidJobError("Job message is not UTF-8 JSON", { cause });
  }
  return parseJobValue(value, options.checks);
}

/** Validates an already-decoded JSON value as a job. */
export function parseJobValue(value: unknown, checks: SpecChecks): ParsedJob {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidJobError("Job message must be a JSON object");
  }
  const id = readableJobId(value as Record<string, unknown>);
  const fail = (message: string, cause?: unknown): never => {
    throw new InvalidJobError(message, { jobId: id, cause });
  };
  const parsed = wireSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(`Invalid job field ${issue.path.join(".") || "(message)"}: ${issue.message}`, parsed.error);
  }
  const w = parsed.data!;
  const pick = <T>(snake: T | undefined, camel: T | undefined, name: string): T | undefined => {
    if (snake !== undefined && camel !== undefined && snake !== camel) fail(`Fields ${name} and its alias disagree`);
    return snake ?? camel;
  };
  const jobIdValue = pick(w.job_id, w.jobId, "job_id");
  if (jobIdValue === undefined) fail("Missing field job_id (jobId)");
  const imageName = pick(w.image_name, w.dockerImage, "image_name");
  // The Lamda backend's dispatcher sends `dockerImage: ""` today: say which field, in both spellings.
  if (!imageName) fail("Missing field image_name (dockerImage): the job names no Docker image to run");
  // Empty strings are what older dispatchers send for "no input" / "default path".
  const inputCid = pick(w.input_file_cid, w.inputFileCID, "input_file_cid") || undefined;
  const outputPathRaw = pick(w.output_path, w.outputPath, "output_path") || undefined;

  const canonicalFields: Record<string, unknown> = { job_id: jobIdValue, image_name: imageName };
  if (inputCid !== undefined) canonicalFields.input_file_cid = inputCid;
  if (outputPathRaw !== undefined) canonicalFields.output_path = outputPathRaw;
  if (w.command !== undefined) canonicalFields.command = w.command;
  if (w.env !== undefined) canonicalFields.env = w.env;
  if (w.gpus !== undefined) canonicalFields.gpus = w.gpus;
  if (w.timeout_seconds !== undefined) canonicalFields.timeout_seconds = w.timeout_seconds;
  if (w.resources !== undefined) canonicalFields.resources = w.resources;

  if (inputCid !== undefined) {
    try {
      CID.parse(inputCid);
    } catch (cause) {
      fail("Field input_file_cid is not a CID (v0 or v1)", cause);
    }
  }
  let outputPath = "/output";
  let env: Record<string, string> | undefined;
  try {
    checks.imageReference(imageName!);
    if (outputPathRaw !== undefined) outputPath = checks.outputPath(outputPathRaw);
    if (w.env !== undefined) env = checks.env(w.env);
  } catch (cause) {
    fail(`Invalid job: ${(cause as Error)?.message ?? String(cause)}`, cause);
  }
  const job: Job = { jobId: jobIdValue!, imageName: imageName!, outputPath };
  if (inputCid !== undefined) job.inputFileCid = inputCid;
  if (w.command !== undefined) job.command = w.command;
  if (env !== undefined) job.env = env;
  if (w.gpus !== undefined) job.gpus = w.gpus;
  if (w.timeout_seconds !== undefined) job.timeoutSeconds = w.timeout_seconds;
  if (w.resources !== undefined) {
    job.resources = {};
    if (w.resources.memory_mb !== undefined) job.resources.memoryMb = w.resources.memory_mb;
    if (w.resources.cpus !== undefined) job.resources.cpus = w.resources.cpus;
  }
  if (w.signature !== undefined) job.signature = w.signature;
  return { job, canonicalFields };
}

/** The job id of a message object when it is present and well-formed (either spelling), else undefined. */
export function readableJobId(value: Record<string, unknown>): string | undefined {
  for (const key of ["job_id", "jobId"]) {
    const v = value[key];
    if (typeof v === "string" && JOB_ID_PATTERN.test(v)) return v;
  }
  return undefined;
}

/** Finds a job id near the start of an oversize message without parsing all of it. */
function sniffJobId(data: Uint8Array): string | undefined {
  const head = new TextDecoder().decode(data.subarray(0, 4096));
  const m = /"(?:job_id|jobId)"\s*:\s*"([A-Za-z0-9._:-]{1,128})"/.exec(head);
  return m?.[1];
}
