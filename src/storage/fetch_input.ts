/** Verified retrieval of a CID from an ordered list of trustless gateways into a job's input directory. */
import { timeoutSignal } from "../timers.ts";
import { decode as decodePb } from "@ipld/dag-pb";
import { equals } from "multiformats/bytes";
import type { CID } from "multiformats/cid";
import type { Logger, TransferProgress } from "../log/mod.ts";
import { backoffDelay } from "./backoff.ts";
import { sleep } from "../timers.ts";
import { BlockSpool } from "./block_spool.ts";
import { DAG_PB, MAX_BLOCK_BYTES, parseCid } from "./block_verify.ts";
import { ingestCar } from "./car_ingest.ts";
import { asStorageError, StorageError } from "./errors.ts";
import { fetchWithTimeouts } from "./http_fetch.ts";
import { type ExportResult, exportToDir } from "./unixfs_export.ts";

/** One gateway: base URL and extra headers (e.g. a dedicated gateway's key). */
export interface Gateway {
  url: string;
  headers?: Record<string, string>;
}

/** Options for {@linkcode fetchInput}. */
export interface FetchInputOptions {
  gateways: Gateway[];
  /** Most decoded bytes (INPUT_MAX_BYTES). */
  maxBytes: number;
  /** Most directory entries (INPUT_MAX_ENTRIES). */
  maxEntries: number;
  /** Until response headers (IPFS_REQUEST_TIMEOUT). */
  requestTimeoutMs: number;
  /** Between body chunks (IPFS_INACTIVITY_TIMEOUT). */
  inactivityTimeoutMs: number;
  /** Whole retrieval, all gateways and retries (INPUT_FETCH_TIMEOUT). */
  totalTimeoutMs: number;
  /** Extra rounds over the gateways after the first (INPUT_FETCH_RETRIES). */
  retries: number;
  /** First backoff delay between rounds. */
  backoffBaseMs?: number;
  /** `car` (one request per CID) or `raw` (one request per block). */
  format?: "car" | "raw";
  /** Directory for the temporary block spool; default: beside `destDir`. */
  workDir?: string;
  signal?: AbortSignal;
  logger?: Logger;
  /** What is fetched, in log lines and errors (`input`, or `output` when a client fetches a job's result). */
  label?: string;
  /**
   * Counts verified block bytes as they arrive (each block of the DAG once per attempt; gateway framing and refused
   * bytes are not counted). Each gateway attempt restarts it; the caller ends it.
   */
  progress?: TransferProgress;
}

/** What a successful retrieval wrote. */
export interface FetchInputResult extends ExportResult {
  /** The gateway that served it. */
  gateway: string;
}

// Errors about the content itself: another gateway would serve the same verified DAG.
const CONTENT_DETAILS = new Set(["too_large", "unsafe_name", "unsupported"]);

/**
 * Retrieves `cidText` into `destDir`: a file becomes `destDir/input`, a directory its tree. Every block is verified
 * against its CID before the exporter sees it. Throws a {@linkcode StorageError} (`input_fetch_failed` or
 * `input_integrity_failed`) summarizing each gateway's failure.
 */
export async function fetchInput(
  cidText: string,
  destDir: string,
  options: FetchInputOptions,
): Promise<FetchInputResult> {
  const label = options.label ?? "input";
  const cid = parseCid(cidText);
  if (options.gateways.length === 0) {
    throw new StorageError("input_fetch_failed", "unsupported", "No IPFS gateway configured (IPFS_GATEWAYS)");
  }
  const deadline = timeoutSignal(options.totalTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const log = options.logger?.child({ cid: cid.toString() });
  await Deno.mkdir(destDir, { recursive: true });
  const failures: string[] = [];
  const broken = new Set<string>();
  let integrity: StorageError | undefined;
  for (let round = 0; round <= options.retries; round++) {
    for (const gateway of options.gateways) {
      const name = gatewayName(gateway.url);
      if (broken.has(gateway.url)) continue;
      if (signal.aborted) break;
      try {
        log?.debug(`fetching ${label}`, { gateway: name, round });
        options.progress?.restart();
        const result = await attempt(cid, gateway, destDir, options, signal);
        log?.info(`${label} fetched and verified`, { gateway: name, bytes: result.bytes, files: result.files });
        return { ...result, gateway: name };
      } catch (raw) {
        const error = signal.aborted ? abortError(label, options.signal, options.totalTimeoutMs, raw) : raw;
        const storageError = asStorageError(error, "input_fetch_failed", name);
        await emptyDir(destDir);
        if (storageError.detail === "aborted") throw storageError;
        if (storageError.reason === "input_integrity_failed") {
          integrity ??= storageError;
          broken.add(gateway.url);
        }
        failures.push(`${name}: ${storageError.message}`);
        log?.warn("gateway failed", { gateway: name, round, detail: storageError.detail, error: storageError });
        if (CONTENT_DETAILS.has(storageError.detail) && (storageError as Sided).side === "content") {
          throw storageError;
        }
      }
    }
    if (round < options.retries && broken.size < options.gateways.length && !signal.aborted) {
      await sleep(backoffDelay(round, options.backoffBaseMs ?? 1000, 30_000), signal).catch(() => {});
    }
  }
  if (options.signal?.aborted) throw abortError(label, options.signal, options.totalTimeoutMs, undefined);
  const reason = integrity ? "input_integrity_failed" : "input_fetch_failed";
  throw new StorageError(
    reason,
    integrity?.detail ?? "network",
    `Could not retrieve ${label} ${cid} from ${options.gateways.length} gateway(s): ${failures.join("; ")}`,
    { cause: integrity, retryable: !integrity },
  );
}

type Sided = StorageError & { side?: "content" | "gateway" };

async function attempt(
  cid: CID,
  gateway: Gateway,
  destDir: string,
  options: FetchInputOptions,
  outer: AbortSignal,
): Promise<ExportResult> {
  const controller = new AbortController();
  const signal = AbortSignal.any([outer, controller.signal]);
  const base = gateway.url.replace(/\/+$/, "");
  const timeouts = { requestTimeoutMs: options.requestTimeoutMs, inactivityTimeoutMs: options.inactivityTimeoutMs };
  // Junk and DAG overhead are allowed on top of the decoded limit, but not without bound.
  const maxCarBytes = options.maxBytes + Math.ceil(options.maxBytes / 16) + 16 * MAX_BLOCK_BYTES;
  const raw = options.format === "raw";
  const spoolDir = `${options.workDir ?? `${destDir}/..`}/.blocks-${crypto.randomUUID()}`;
  const progress = options.progress;
  const spool = await new BlockSpool(spoolDir, {
    signal,
    onBlock: progress &&
      ((blockCid, bytes) => {
        if (progress.total === undefined && equals(blockCid.multihash.bytes, cid.multihash.bytes)) {
          progress.total = dagSizeHint(blockCid, bytes);
        }
        progress.add(bytes.byteLength);
      }),
    fetcher: raw ? (c, s) => fetchRawBlock(`${base}/ipfs/${c}?format=raw`, gateway, timeouts, s) : undefined,
  }).open();
  let ingestError: unknown;
  try {
    let ingest: Promise<unknown> = Promise.resolve();
    if (!raw) {
      const res = await fetchWithTimeouts(`${base}/ipfs/${cid}?format=car&dag-scope=all`, {
        ...timeouts,
        signal,
        headers: {
          ...gateway.headers,
          accept: "application/vnd.ipld.car;version=1;order=dfs;dups=n",
          "accept-encoding": "identity",
        },
      });
      checkStatus(res.response, res.close);
      ingest = ingestCar(res.body, cid, spool, { maxCarBytes }).then(
        () => spool.finish(),
        (error) => {
          ingestError = error;
          spool.finish(error);
        },
      );
    }
    try {
      return await exportToDir(cid, spool, destDir, options, signal);
    } catch (error) {
      if (ingestError !== undefined) throw ingestError;
      if (signal.aborted || error instanceof DOMException) throw error;
      const sided: Sided = error instanceof StorageError ? error : new StorageError(
        "input_fetch_failed",
        "unsupported",
        `Cannot export the UnixFS DAG: ${(error as Error).message}`,
        { cause: error },
      );
      sided.side = "content";
      throw sided;
    } finally {
      controller.abort(new DOMException("attempt finished", "AbortError"));
      await ingest;
    }
  } finally {
    await spool.destroy();
  }
}

async function fetchRawBlock(
  url: string,
  gateway: Gateway,
  timeouts: { requestTimeoutMs: number; inactivityTimeoutMs: number },
  signal: AbortSignal,
): Promise<Uint8Array> {
  const res = await fetchWithTimeouts(url, {
    ...timeouts,
    signal,
    headers: { ...gateway.headers, accept: "application/vnd.ipld.raw", "accept-encoding": "identity" },
  });
  checkStatus(res.response, res.close);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_BLOCK_BYTES) {
      res.close();
      throw new StorageError("input_integrity_failed", "too_large", `Block at ${url} exceeds 2 MiB`);
    }
    parts.push(chunk);
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

function checkStatus(response: Response, close: () => void): void {
  if (response.ok) return;
  close();
  const s = response.status;
  const transient = s === 429 || s >= 500 || s === 404 || s === 408;
  throw new StorageError(
    "input_fetch_failed",
    transient ? "network" : "http_status",
    `HTTP ${s} ${response.statusText}`,
    {
      retryable: transient,
    },
  );
}

/**
 * The DAG's size as its root claims it: the root block plus the cumulative sizes (`Tsize`) of its links. Unverified
 * until every block arrived, so it only sizes the progress display; undefined when a link has no size.
 */
function dagSizeHint(root: CID, bytes: Uint8Array): number | undefined {
  if (root.code !== DAG_PB) return bytes.byteLength;
  let total = bytes.byteLength;
  for (const link of decodePb(bytes).Links) {
    if (link.Tsize === undefined) return undefined;
    total += link.Tsize;
  }
  return total;
}

function abortError(
  label: string,
  callerSignal: AbortSignal | undefined,
  totalMs: number,
  cause: unknown,
): StorageError {
  const what = `${label[0]?.toUpperCase() ?? ""}${label.slice(1)} retrieval`;
  if (callerSignal?.aborted) {
    return new StorageError("input_fetch_failed", "aborted", `${what} cancelled`, { cause });
  }
  return new StorageError(
    "input_fetch_failed",
    "network",
    `${what} exceeded INPUT_FETCH_TIMEOUT (${totalMs} ms)`,
    {
      cause,
    },
  );
}

/** A gateway's name for logs and errors: its origin, never its query or credentials. */
export function gatewayName(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "invalid-gateway-url";
  }
}

async function emptyDir(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`, { recursive: true });
}
