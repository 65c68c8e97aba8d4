/** Uploads a job input through the Pinata API: a single file as the file's own CID, a directory as its directory CID. */
import { basename, resolve } from "node:path";
import { readBodyPrefix } from "../http_body.ts";
import {
  type Logger,
  logProgressSink,
  type ProgressSink,
  Redactor,
  terminalProgressSink,
  TransferProgress,
} from "../log/mod.ts";
import { PinataClient, StorageError } from "../storage/mod.ts";
import { multipartBody } from "../storage/multipart_body.ts";
import { scanOutput } from "../storage/output_tree.ts";
import { postSized } from "../storage/sized_post.ts";

/** Where and how to upload. */
export interface InputUploadOptions {
  /** PINATA_API_URL. */
  apiUrl: string;
  /** PINATA_JWT; never shown. */
  jwt: string | undefined;
  /** Most bytes a directory may hold (INPUT_MAX_BYTES: the agent would refuse more anyway). */
  maxBytes: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Where progress reports go as the content bytes stream out. */
  progress?: ProgressSink;
  /** Least time between two reports; default 5 s. */
  progressIntervalMs?: number;
}

/** What was uploaded. */
export interface UploadedInput {
  cid: string;
  kind: "file" | "directory";
  bytes: number;
}

/**
 * Uploads `path`. A file is sent alone without a wrapping directory, so the CID is the file's and the container sees
 * it as `/input/input`; a directory is sent under its own name, so the CID is the directory's and the container sees
 * its tree under `/input/`.
 */
export async function uploadInput(path: string, options: InputUploadOptions): Promise<UploadedInput> {
  const full = resolve(path);
  const info = await Deno.stat(full);
  const progress = new TransferProgress(options.progress ?? (() => {}), {
    label: "uploading the input",
    intervalMs: options.progressIntervalMs,
  });
  try {
    return await upload(full, path, info, progress, options);
  } finally {
    progress.done();
  }
}

async function upload(
  full: string,
  path: string,
  info: Deno.FileInfo,
  progress: TransferProgress,
  options: InputUploadOptions,
): Promise<UploadedInput> {
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  if (info.isDirectory) {
    const tree = await scanOutput(full, { maxBytes: options.maxBytes });
    if (tree.files === 0) throw new TypeError(`Input directory ${path} holds no file`);
    const client = new PinataClient({
      apiUrl: options.apiUrl,
      jwt: options.jwt,
      retries: 2,
      backoffBaseMs: 1000,
      attemptTimeoutMs: timeoutMs,
    });
    const pinned = await client.pinDirectory({
      dir: full,
      tree,
      rootName: basename(full) || "input",
      name: `input ${basename(full)}`,
      keyvalues: {},
      signal: options.signal,
      progress,
    });
    return { cid: pinned.cid, kind: "directory", bytes: tree.bytes };
  }
  if (!info.isFile) throw new TypeError(`Input ${path} is neither a file nor a directory`);
  if (!options.jwt) {
    throw new StorageError("upload_failed", "unauthorized", "PINATA_JWT is not set: the input cannot be uploaded");
  }
  const body = multipartBody([
    { name: "pinataOptions", value: JSON.stringify({ cidVersion: 1, wrapWithDirectory: false }) },
    { name: "pinataMetadata", value: JSON.stringify({ name: `input ${basename(full)}` }) },
    { name: "file", filename: basename(full), path: full, size: info.size },
  ]);
  progress.total = body.fileBytes;
  const signal = options.signal
    ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
    : AbortSignal.timeout(timeoutMs);
  // With its exact Content-Length, as the agent's own uploads (fetch would send the stream chunked).
  const res = await postSized(`${options.apiUrl.replace(/\/+$/, "")}/pinning/pinFileToIPFS`, {
    headers: { authorization: `Bearer ${options.jwt}`, "content-type": body.contentType },
    length: body.length,
    body: body.chunks(signal, (n) => progress.add(n)),
    signal,
  });
  if (!res.ok) {
    // At most a few KiB of an error body, and never the JWT a service might echo.
    const redactor = new Redactor();
    redactor.add(options.jwt);
    const text = redactor.text((await readBodyPrefix(res)).slice(0, 300));
    throw new StorageError(
      "upload_failed",
      res.status === 401 || res.status === 403 ? "unauthorized" : "http_status",
      `Pinata answered HTTP ${res.status}: ${text}`,
    );
  }
  const text = await res.text();
  let cid: unknown;
  try {
    cid = (JSON.parse(text) as { IpfsHash?: unknown }).IpfsHash;
  } catch {
    cid = undefined;
  }
  if (typeof cid !== "string" || cid === "") {
    throw new StorageError("upload_failed", "http_status", "Pinata answered without an IpfsHash");
  }
  return { cid, kind: "file", bytes: info.size };
}

/**
 * Where `submit` shows its own transfers: a rewritten line on stderr when it is a terminal, otherwise an info log
 * line every few seconds. `terminal` and `write` are for tests.
 */
export function submitProgress(
  logger: Logger,
  options: { terminal?: boolean; write?: (text: string) => void } = {},
): { progress: ProgressSink; progressIntervalMs: number } {
  if (!(options.terminal ?? Deno.stderr.isTerminal())) {
    return { progress: logProgressSink(logger), progressIntervalMs: 5000 };
  }
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => void Deno.stderr.writeSync(encoder.encode(text)));
  return { progress: terminalProgressSink(write), progressIntervalMs: 250 };
}
