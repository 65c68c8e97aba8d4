/** Verified retrieval of a CID from an ordered list of trustless gateways into a job's input directory. */
import { decode as decodePb } from "@ipld/dag-pb";
import { equals } from "multiformats/bytes";
import type { CID } from "multiformats/cid";
import type { Logger, TransferProgress } from "../log/mod.ts";
import { backoffDelay, sleep, timeoutSignal } from "../timers.ts";
import { BlockSession, type BlockSource, BlockSpool } from "./block_spool.ts";
import { assertVerifiable, DAG_PB, MAX_BLOCK_BYTES, parseCid, RAW } from "./block_verify.ts";
import { asStorageError, type StorageDetail, StorageError } from "./errors.ts";
import { fetchWithTimeouts } from "./http_fetch.ts";
import { CAR_ACCEPT, NotTrustlessError, RAW_TYPE, readAnswer } from "./trustless_response.ts";
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
  /** First backoff delay between rounds, and before resuming on the same gateway. */
  backoffBaseMs?: number;
  /** `car` (a CAR per DAG, then per missing subtree) or `raw` (one request per block). */
  format?: "car" | "raw";
  /** Directory for the temporary block spool; default: beside `destDir`. */
  workDir?: string;
  /** Block requests in flight at once when blocks are fetched one by one (default 8). */
  blockConcurrency?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** What is fetched, in log lines and errors (`input`, or `output` when a client fetches a job's result). */
  label?: string;
  /**
   * Counts verified block bytes as they arrive: each block of the DAG once for the whole retrieval (a resumed attempt
   * continues the count; gateway framing, duplicates and refused bytes are not counted). The caller ends it.
   */
  progress?: TransferProgress;
  /**
   * Called once with the size the root block declares (unverified: the root's own bytes plus its links' `Tsize`);
   * throwing (a `disk_full` {@linkcode StorageError}) ends the retrieval before the rest is downloaded.
   */
  checkSpace?: (declaredBytes: number) => void;
}

/** What a successful retrieval wrote. */
export interface FetchInputResult extends ExportResult {
  /** The gateway that completed it. */
  gateway: string;
  /** Attempts made (a resumed or retried gateway counts again). */
  attempts: number;
  /**
   * Bytes that went through the block spool on disk: the DAG's inner blocks, and leaves that could not be written
   * straight into the files (they came out of order). The rest reached the disk once, in the files.
   */
  spooledBytes: number;
}

// Errors about the content itself: another gateway would serve the same verified DAG.
const CONTENT_DETAILS = new Set<StorageDetail>(["too_large", "unsafe_name", "unsupported"]);
// How often an attempt that made progress before it broke is resumed on the same gateway, in a row.
const SAME_GATEWAY_RESUMES = 2;

/**
 * Retrieves `cidText` into `destDir`: a file becomes `destDir/input`, a directory its tree. Every block is verified
 * against its CID before the exporter sees it. Verified blocks are kept across attempts, so a broken transfer resumes
 * with what is missing. Throws a {@linkcode StorageError} (`input_fetch_failed` or `input_integrity_failed`)
 * summarizing each gateway's failure.
 */
export async function fetchInput(
  cidText: string,
  destDir: string,
  options: FetchInputOptions,
): Promise<FetchInputResult> {
  const label = options.label ?? "input";
  const cid = parseCid(cidText);
  assertVerifiable(cid);
  if (options.gateways.length === 0) {
    throw new StorageError("input_fetch_failed", "unsupported", "No IPFS gateway configured (IPFS_GATEWAYS)");
  }
  const deadline = timeoutSignal(options.totalTimeoutMs);
  // The disk preflight ends every attempt at once, from inside the block stream.
  const noSpace = new AbortController();
  let spaceError: StorageError | undefined;
  const signal = AbortSignal.any([...(options.signal ? [options.signal] : []), deadline, noSpace.signal]);
  const log = options.logger?.child({ cid: cid.toString() });
  await Deno.mkdir(destDir, { recursive: true });
  const maxCarBytes = carLimit(options.maxBytes);
  let sized = false;
  const progress = options.progress;
  const spool = await new BlockSpool(`${options.workDir ?? `${destDir}/..`}/.blocks-${crypto.randomUUID()}`, {
    maxBytes: maxCarBytes,
    placeLeaves: true,
    onBlock: (progress || options.checkSpace) &&
      ((blockCid, bytes) => {
        if (!sized && equals(blockCid.multihash.bytes, cid.multihash.bytes)) {
          sized = true;
          const declared = dagSizeHint(blockCid, bytes);
          if (progress) progress.total = declared;
          if (declared !== undefined && options.checkSpace) {
            try {
              options.checkSpace(declared);
            } catch (error) {
              spaceError = error instanceof StorageError
                ? error
                : new StorageError("disk_full", "too_large", (error as Error).message, { retryable: false });
              noSpace.abort(spaceError);
            }
          }
        }
        progress?.add(bytes.byteLength);
      }),
  }).open();
  const failures: string[] = [];
  const details: StorageDetail[] = [];
  // Not asked again in this retrieval: served bad data, or does not speak the protocol.
  const dropped = new Set<string>();
  let integrity: StorageError | undefined;
  let attempts = 0;
  const backoffMs = options.backoffBaseMs ?? 1000;
  let done = false;
  try {
    for (let round = 0; round <= options.retries; round++) {
      for (const gateway of options.gateways) {
        const name = gatewayName(gateway.url);
        for (let resumes = 0; !dropped.has(gateway.url) && !signal.aborted; resumes++) {
          const before = spool.storedBytes;
          attempts++;
          try {
            log?.debug(`fetching ${label}`, { gateway: name, round, resumed_bytes: before });
            const result = await attempt(cid, gateway, destDir, spool, options, signal);
            // The root's sizes count a block each time the DAG uses it: content with repeated blocks would end short.
            if (progress) progress.total = progress.bytes;
            const spooledBytes = spool.spooledBytes;
            log?.info(`${label} fetched and verified`, {
              gateway: name,
              bytes: result.bytes,
              files: result.files,
              attempts,
              spooled_bytes: spooledBytes,
            });
            done = true;
            return { ...result, gateway: name, attempts, spooledBytes };
          } catch (raw) {
            if (spaceError) throw spaceError;
            const error = signal.aborted ? abortError(label, options.signal, options.totalTimeoutMs, raw) : raw;
            const storageError = asStorageError(error, "input_fetch_failed", "network error");
            // What the attempt wrote stays: the raw blocks it placed in the files are part of what resumes.
            if (storageError.detail === "aborted") throw storageError;
            failures.push(`${name}: ${storageError.message}`);
            details.push(storageError.detail);
            const gained = spool.storedBytes - before;
            log?.warn("gateway failed", {
              gateway: name,
              round,
              detail: storageError.detail,
              verified_bytes: gained,
              error: storageError,
            });
            if ((storageError as Sided).side === "content") throw storageError;
            if (storageError.reason === "input_integrity_failed") {
              integrity ??= storageError;
              dropped.add(gateway.url);
            } else if (storageError instanceof NotTrustlessError) {
              dropped.add(gateway.url);
            } else if (gained > 0 && storageError.detail === "network" && resumes < SAME_GATEWAY_RESUMES) {
              // It was delivering when the connection broke: resume there (what it verified is kept) after a wait.
              await sleep(backoffDelay(resumes, backoffMs, 30_000), signal).catch(() => {});
              continue;
            }
            break;
          }
        }
      }
      const usable = options.gateways.some((g) => !dropped.has(g.url));
      if (round < options.retries && usable && !signal.aborted) {
        await sleep(backoffDelay(round, backoffMs, 30_000), signal).catch(() => {});
      }
      if (!usable) break;
    }
  } finally {
    await spool.destroy();
    if (!done) await emptyDir(destDir);
  }
  if (spaceError) throw spaceError;
  if (options.signal?.aborted) throw abortError(label, options.signal, options.totalTimeoutMs, undefined);
  const reason = integrity ? "input_integrity_failed" : "input_fetch_failed";
  // A block some gateway said it lacks explains more than the timeouts and resets of the others.
  const detail = integrity?.detail ??
    (details.includes("missing_block")
      ? "missing_block"
      : details.length > 0 && details.every((d) => d === details[0])
      ? details[0]
      : "network");
  throw new StorageError(
    reason,
    detail,
    `Could not retrieve ${label} ${cid} from ${options.gateways.length} gateway(s): ${failures.join("; ")}`,
    { cause: integrity, retryable: !integrity },
  );
}

type Sided = StorageError & { side?: "content" | "gateway" };

/** The most CAR (and spooled block) bytes accepted for `maxBytes` of decoded input: 1/16 + 32 MiB of overhead. */
export function carLimit(maxBytes: number): number {
  return maxBytes + Math.ceil(maxBytes / 16) + 16 * MAX_BLOCK_BYTES;
}

async function attempt(
  cid: CID,
  gateway: Gateway,
  destDir: string,
  spool: BlockSpool,
  options: FetchInputOptions,
  outer: AbortSignal,
): Promise<ExportResult> {
  const session = new BlockSession(spool, {
    source: gatewaySource(gateway, cid, options),
    signal: outer,
    concurrency: options.blockConcurrency,
  });
  try {
    return await exportToDir(cid, session, destDir, options, outer);
  } catch (error) {
    // A feed or block request failed: that is the gateway's failure, whatever the exporter made of it.
    if (session.failed) throw session.failure;
    if (outer.aborted || error instanceof DOMException) throw error;
    const sided: Sided = error instanceof StorageError ? error : new StorageError(
      "input_fetch_failed",
      "unsupported",
      `Cannot export the UnixFS DAG: ${(error as Error).message}`,
      { cause: error },
    );
    if (CONTENT_DETAILS.has(sided.detail)) sided.side = "content";
    throw sided;
  } finally {
    session.close();
  }
}

/**
 * How one gateway supplies a missing block: a raw CID (or every block, in `raw` format) as `?format=raw`; any other
 * as a CAR of its subtree, so a missing directory or file comes in one request.
 */
function gatewaySource(gateway: Gateway, root: CID, options: FetchInputOptions): BlockSource {
  const base = gateway.url.replace(/\/+$/, "");
  const timeouts = { requestTimeoutMs: options.requestTimeoutMs, inactivityTimeoutMs: options.inactivityTimeoutMs };
  const maxCarBytes = carLimit(options.maxBytes);
  // The spec makes raw blocks a MUST and CARs a SHOULD: a gateway that turns CAR requests down gets block requests.
  let carRefused = false;
  const source: BlockSource = async (cid, session, signal) => {
    const asked = options.format !== "raw" && cid.code !== RAW && !carRefused ? "car" : "raw";
    const url = asked === "car" ? `${base}/ipfs/${cid}?format=car&dag-scope=all` : `${base}/ipfs/${cid}?format=raw`;
    const res = await fetchWithTimeouts(url, {
      ...timeouts,
      signal,
      headers: { ...gateway.headers, accept: asked === "car" ? CAR_ACCEPT : RAW_TYPE, "accept-encoding": "identity" },
    });
    if (asked === "car" && CAR_REFUSALS.has(res.response.status)) {
      res.close();
      carRefused = true;
      return await source(cid, session, signal);
    }
    try {
      checkStatus(res.response, cid, root);
      await readAnswer(res.response.headers.get("content-type"), res.body, cid, session, {
        asked,
        status: res.response.status,
        maxCarBytes,
        maxBytes: options.maxBytes,
        signal,
      });
    } finally {
      res.close();
    }
  };
  return source;
}

// What a gateway answers a CAR request with when it serves raw blocks only (the spec: 400 or 406; 501 is common).
const CAR_REFUSALS = new Set([400, 406, 501]);

function checkStatus(response: Response, cid: CID, root: CID): void {
  if (response.ok) return;
  const s = response.status;
  if (s === 404 && !cid.equals(root)) {
    throw new StorageError("input_fetch_failed", "missing_block", `HTTP 404 for block ${cid}, which the DAG needs`, {
      retryable: true,
    });
  }
  const transient = s === 429 || s >= 500 || s === 404 || s === 408;
  throw new StorageError(
    "input_fetch_failed",
    transient ? "network" : "http_status",
    `HTTP ${s} ${response.statusText}`,
    { retryable: transient },
  );
}

/**
 * The DAG's size as its root claims it: the root block plus the cumulative sizes (`Tsize`) of its links. Unverified
 * until every block arrived, so it only sizes the progress display; undefined when a link has no size.
 */
function dagSizeHint(root: CID, bytes: Uint8Array): number | undefined {
  if (root.code !== DAG_PB) return bytes.byteLength;
  let total = bytes.byteLength;
  try {
    for (const link of decodePb(bytes).Links) {
      if (link.Tsize === undefined) return undefined;
      total += link.Tsize;
    }
  } catch {
    return undefined;
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
  return new StorageError("input_fetch_failed", "network", `${what} exceeded INPUT_FETCH_TIMEOUT (${totalMs} ms)`, {
    cause,
  });
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
