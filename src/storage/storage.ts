/** The storage component as the job pipeline uses it: verified inputs in, spooled and verified outputs out. */
import { join, resolve } from "node:path";
import { diskUsage } from "../disk_usage.ts";
import type { Config } from "../config/mod.ts";
import { formatBytes, type Logger, type ProgressSink, TransferProgress } from "../log/mod.ts";
import { type CidProfile, type CidProfileName, UPLOAD_PROFILES } from "./cid_profile.ts";
import { CidTap } from "./compute_cid.ts";
import { StorageError } from "./errors.ts";
import { fetchInput, type FetchInputResult, type Gateway } from "./fetch_input.ts";
import { InputCache, type InputLease } from "./input_cache.ts";
import { OutputSpool, type SpooledOutput } from "./output_spool.ts";
import { scanOutput } from "./output_tree.ts";
import { PinataClient } from "./pinata_client.ts";
import { verifyPinnedCid } from "./verify_pinned.ts";

/** The settings {@linkcode Storage} needs (a subset of the agent's config). */
export type StorageConfig =
  & Pick<
    Config,
    | "dataDir"
    | "pinataJwt"
    | "pinataApiUrl"
    | "ipfsGateways"
    | "pinataGateway"
    | "pinataGatewayKey"
    | "ipfsFetchFormat"
    | "inputMaxBytes"
    | "inputMaxEntries"
    | "ipfsRequestTimeout"
    | "ipfsInactivityTimeout"
    | "inputFetchTimeout"
    | "inputFetchRetries"
    | "outputMaxBytes"
    | "uploadRetries"
    | "uploadRetryBackoff"
    | "uploadTimeout"
    | "outputSpoolTtl"
  >
  & Partial<Pick<Config, "inputCacheMaxBytes">>; // absent: no input cache (configs built by hand in tests)

/** A finished upload. */
export interface UploadResult {
  /** The output directory's CID: the one the service pinned, equal to the local CID under `profile`. */
  cid: string;
  /** The importer profile under which the local CID equals the pinned one. */
  profile: CidProfileName;
  bytes: number;
  files: number;
  attempts: number;
}

/**
 * Progress of one transfer, counted as bytes move. Downloads count verified block bytes (each block of the DAG once per
 * gateway attempt); uploads count file content bytes as the multipart body streams out.
 */
export interface TransferOptions {
  /** Where progress reports go (e.g. `logProgressSink`), at most every `progressIntervalMs` and once at the end. */
  progress?: ProgressSink;
  /** Least time between two reports; default 5 s. */
  progressIntervalMs?: number;
  /**
   * Given byte counts as they move (e.g. a metrics counter). A retry restarts the progress count, but bytes re-sent
   * up to what an earlier attempt reached are not given again: the sum is the transfer's size.
   */
  onBytes?: (n: number) => void;
}

/** Options of a retrieval. */
export interface FetchOptions extends TransferOptions {
  signal?: AbortSignal;
  logger?: Logger;
  /** What is fetched, in log lines and errors; default `input`. */
  label?: string;
}

/** Options of an upload of a spooled output. */
export interface ResumeOptions extends TransferOptions {
  signal?: AbortSignal;
}

/** Options of an upload. */
export interface UploadOptions extends ResumeOptions {
  jobId: string;
  agentAddress: string;
}

/** The CIDv1 of the empty UnixFS directory: the output CID of a job that wrote nothing. */
export const EMPTY_DIRECTORY_CID = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354";

/** Verified retrieval and spooled, verified upload, configured once. */
export class Storage {
  readonly spool: OutputSpool;
  /** Verified inputs kept for later jobs (`DATA_DIR/cache`, INPUT_CACHE_MAX_BYTES). */
  readonly inputCache: InputCache;
  #config: StorageConfig;
  #logger: Logger;
  #pinata: PinataClient;
  // Backoff between gateway rounds; tests shorten it.
  #fetchBackoffMs: number;
  #freeBytes: (path: string) => Promise<number | undefined>;
  /** Jobs whose spooled output is being uploaded now: expiry leaves them alone. */
  #uploading = new Set<string>();
  /** Importer profiles in the order outputs are checked: the last one Pinata was seen using comes first. */
  #profiles: CidProfile[] = [...UPLOAD_PROFILES];

  constructor(
    config: StorageConfig,
    logger: Logger,
    options: { fetchBackoffMs?: number; freeBytes?: (path: string) => Promise<number | undefined> } = {},
  ) {
    this.#config = config;
    this.#logger = logger.child({ component: "storage" });
    this.#logger.redactor.add(config.pinataJwt);
    this.#logger.redactor.add(config.pinataGatewayKey);
    this.spool = new OutputSpool(config.dataDir);
    this.#fetchBackoffMs = options.fetchBackoffMs ?? 1000;
    this.#freeBytes = options.freeBytes ?? freeBytes;
    this.inputCache = new InputCache({
      // Absolute: entries are bind-mount sources.
      dir: join(resolve(config.dataDir), "cache"),
      maxBytes: config.inputCacheMaxBytes ?? 0,
      logger: this.#logger,
    });
    this.#pinata = new PinataClient({
      apiUrl: config.pinataApiUrl,
      jwt: config.pinataJwt,
      retries: config.uploadRetries,
      backoffBaseMs: config.uploadRetryBackoff,
      attemptTimeoutMs: config.uploadTimeout,
      logger: this.#logger,
    });
  }

  /** The gateways in the order they are tried: the dedicated Pinata gateway first, then IPFS_GATEWAYS. */
  gateways(): Gateway[] {
    const list: Gateway[] = [];
    if (this.#config.pinataGateway) {
      const headers: Record<string, string> = {};
      if (this.#config.pinataGatewayKey) headers["x-pinata-gateway-token"] = this.#config.pinataGatewayKey;
      list.push({ url: this.#config.pinataGateway, headers });
    }
    for (const url of this.#config.ipfsGateways) if (!list.some((g) => g.url === url)) list.push({ url });
    return list;
  }

  /**
   * A job's input, ready to mount read-only: a sound input-cache entry (no request made), or fetched and verified
   * (once for all jobs waiting on the same CID) and kept in the cache when it fits. With the cache disabled, or an
   * input too large for it, the input is fetched into `jobInputDir`. Release the lease when the container is gone.
   */
  acquireInput(cid: string, jobInputDir: string, options: FetchOptions = {}): Promise<InputLease> {
    return this.inputCache.acquire(cid, {
      fallbackDir: jobInputDir,
      signal: options.signal,
      fetch: (dir, signal) => this.fetchInput(cid, dir, { ...options, signal }),
    });
  }

  /** Keeps the cache entry of `cid` (if any) while a container re-attached after a restart mounts it. */
  holdInput(cid: string): () => void {
    return this.inputCache.hold(cid);
  }

  /** Retrieves and verifies `cid` into `destDir` (docs/wire-contract.md §4 layout); no cache. */
  async fetchInput(cid: string, destDir: string, options: FetchOptions = {}): Promise<FetchInputResult> {
    const c = this.#config;
    const label = options.label ?? "input";
    using progress = transferProgress(`downloading ${label}`, options);
    const free = await this.#freeBytes(c.dataDir);
    return await fetchInput(cid, destDir, {
      gateways: this.gateways(),
      maxBytes: c.inputMaxBytes,
      maxEntries: c.inputMaxEntries,
      requestTimeoutMs: c.ipfsRequestTimeout,
      inactivityTimeoutMs: c.ipfsInactivityTimeout,
      totalTimeoutMs: c.inputFetchTimeout,
      retries: c.inputFetchRetries,
      backoffBaseMs: this.#fetchBackoffMs,
      format: c.ipfsFetchFormat,
      signal: options.signal,
      logger: options.logger ?? this.#logger,
      label,
      progress,
      checkSpace: free === undefined ? undefined : (declared) => {
        // The verified blocks are spooled while the files are written: both are on DATA_DIR's disk at once.
        const need = declared * 2;
        if (need > free) {
          throw new StorageError(
            "disk_full",
            "too_large",
            `The ${label} ${cid} declares ${formatBytes(declared)}; fetching it needs about ${formatBytes(need)} ` +
              `(files and block spool) and DATA_DIR's disk has ${formatBytes(free)} free`,
            { retryable: false },
          );
        }
      },
    });
  }

  /**
   * Checks the output (no symlinks, within OUTPUT_MAX_BYTES), moves it into the spool, and uploads it. On success the
   * spool entry is removed; after retries are spent it stays for {@linkcode resumeUpload} until OUTPUT_SPOOL_TTL.
   */
  async uploadOutput(dir: string, options: UploadOptions): Promise<UploadResult> {
    await scanOutput(dir, { maxBytes: this.#config.outputMaxBytes });
    await this.spool.add(dir, options.jobId, options.agentAddress);
    return await this.resumeUpload(options.jobId, options);
  }

  /** Uploads a spooled output (after a restart, or a retry later); removes it once uploaded. */
  async resumeUpload(jobId: string, options: ResumeOptions = {}): Promise<UploadResult> {
    this.#uploading.add(jobId);
    try {
      return await this.#upload(jobId, options);
    } finally {
      this.#uploading.delete(jobId);
    }
  }

  async #upload(jobId: string, options: ResumeOptions): Promise<UploadResult> {
    const signal = options.signal;
    const item = await this.spool.get(jobId);
    if (!item) throw new StorageError("upload_failed", "unsupported", `No spooled output for job ${jobId}`);
    const log = this.#logger.child({ job_id: jobId });
    const tree = await scanOutput(item.dir, { maxBytes: this.#config.outputMaxBytes });
    // Hash locally while uploading (under the profile expected), from the bytes the upload reads: each byte is read
    // from disk once. Other profiles are hashed only if the pinned CID differs. A failed upload stops the hashing.
    const expected = this.#profiles[0];
    const hashing = new AbortController();
    const tap = new CidTap(item.dir, tree, {
      profile: expected,
      signal: signal ? AbortSignal.any([signal, hashing.signal]) : hashing.signal,
    });
    const localCid = tap.cid.then(String);
    localCid.catch(() => {});
    if (tree.files === 0) {
      const local = await localCid;
      // Pinata cannot take a multipart upload without files; the empty directory's CID is a constant.
      await this.spool.remove(jobId);
      log.info("output is empty; nothing to upload", { cid: local });
      return { cid: local, profile: expected.name, bytes: 0, files: 0, attempts: 0 };
    }
    let pinned;
    using progress = transferProgress("uploading output", options);
    try {
      pinned = await this.#pinata.pinDirectory({
        dir: item.dir,
        tree,
        rootName: "output",
        name: `lamda-job-${jobId}`,
        keyvalues: { job_id: jobId, agent_address: item.agentAddress },
        signal,
        progress,
        tap,
      });
    } catch (error) {
      hashing.abort();
      await this.spool.recordAttempt(jobId, (error as Error).message);
      log.warn("output upload failed; kept in spool", { error, spooled: item.dir });
      throw error;
    }
    const local = await localCid;
    let verified: { cid: string; profile: CidProfile };
    try {
      verified = await verifyPinnedCid({
        pinned: pinned.cid,
        dir: item.dir,
        tree,
        profiles: this.#profiles,
        known: new Map([[expected.name, local]]),
        signal,
        logger: log,
      });
    } catch (error) {
      await this.spool.recordAttempt(jobId, (error as Error).message);
      throw error;
    }
    const { cid, profile } = verified;
    if (profile !== expected) {
      log.warn("the service built the output with another importer profile; it is checked first from now on", {
        cid,
        profile: profile.name,
        expected: expected.name,
      });
      this.#profiles = [profile, ...this.#profiles.filter((p) => p !== profile)];
    }
    await this.spool.remove(jobId);
    log.info("output uploaded", {
      cid,
      profile: profile.name,
      bytes: tree.bytes,
      files: tree.files,
      attempts: pinned.attempts,
    });
    return { cid, profile: profile.name, bytes: tree.bytes, files: tree.files, attempts: pinned.attempts };
  }

  /** Outputs waiting in the spool (e.g. after a restart), oldest first. */
  listSpooledOutputs(): Promise<SpooledOutput[]> {
    return this.spool.list();
  }

  /**
   * Deletes a job's spooled output, if any: the job reached a terminal status, so nothing will upload it any more (a
   * shutdown or cancel during the upload leaves it there). Returns whether there was one. Never throws for an id
   * that cannot have an entry.
   */
  async removeSpooled(jobId: string): Promise<boolean> {
    if (!OutputSpool.isEntryName(jobId)) return false;
    const had = await this.spool.get(jobId).then((item) => item !== undefined, () => true);
    await this.spool.remove(jobId);
    return had;
  }

  /**
   * Deletes spooled outputs older than OUTPUT_SPOOL_TTL, except one being uploaded right now; returns their job ids.
   * Cheap (one directory listing, one small read per entry): run it at start-up and then periodically (hourly).
   */
  expireSpool(now = Date.now()): Promise<string[]> {
    return this.spool.expire(this.#config.outputSpoolTtl, now, this.#uploading);
  }

  /** Checks the Pinata JWT. */
  testAuthentication(signal?: AbortSignal): Promise<void> {
    return this.#pinata.testAuthentication(signal);
  }
}

/** A progress counter for one transfer, ended (one last report) when the `using` scope exits. */
function transferProgress(label: string, options: TransferOptions): TransferProgress & Disposable {
  const progress = new TransferProgress(options.progress ?? (() => {}), {
    label,
    intervalMs: options.progressIntervalMs,
    onBytes: options.onBytes,
  });
  return Object.assign(progress, { [Symbol.dispose]: () => progress.done() });
}

/** Free bytes of the filesystem holding `path` (for an unprivileged user), or undefined when it cannot be read. */
async function freeBytes(path: string): Promise<number | undefined> {
  return await diskUsage(path).then((u) => u.freeBytes, () => undefined);
}
