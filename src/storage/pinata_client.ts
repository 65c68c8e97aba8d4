/**
 * Pinata's legacy pinning API: `pinFileToIPFS` as a streamed directory upload (with its exact `Content-Length`) with
 * retries, `unpin`, `testAuthentication`, and an upload probe for `doctor`.
 */
import { readBodyPrefix } from "../http_body.ts";
import { timeoutSignal } from "../timers.ts";
import { z } from "zod";
import { type Logger, Redactor, type TransferProgress } from "../log/mod.ts";
import { backoffDelay, retryAfterMs } from "./backoff.ts";
import { sleep } from "../timers.ts";
import { StorageError } from "./errors.ts";
import { type FileChunkHook, type FormPart, multipartBody } from "./multipart_body.ts";
import type { OutputTree } from "./output_tree.ts";
import { postSized } from "./sized_post.ts";

/** Settings of {@linkcode PinataClient}. */
export interface PinataClientOptions {
  /** PINATA_API_URL. */
  apiUrl: string;
  /** PINATA_JWT; never logged, never in errors. */
  jwt: string | undefined;
  /** Retries after the first attempt (UPLOAD_RETRIES). */
  retries: number;
  /** First backoff delay (UPLOAD_RETRY_BACKOFF). */
  backoffBaseMs: number;
  /** Longest backoff delay. */
  backoffMaxMs?: number;
  /** Per attempt, whole upload (UPLOAD_TIMEOUT). */
  attemptTimeoutMs: number;
  logger?: Logger;
}

/** Pinata's answer to a pin. */
export interface PinResult {
  cid: string;
  pinSize: number;
  timestamp: string;
  attempts: number;
}

/** What gets pinned: a scanned directory, its name on Pinata and key-values. */
export interface PinDirectoryRequest {
  dir: string;
  tree: OutputTree;
  /** Name of the wrapping directory in part file names (does not change the CID). */
  rootName: string;
  name: string;
  keyvalues: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Counts file content bytes as the body streams out (part headers are not counted); its total is set to the
   * files' size, each attempt restarts it, the caller ends it.
   */
  progress?: TransferProgress;
  /**
   * Given the files' bytes as the first attempt reads them (e.g. a {@linkcode CidTap}, so the local CID needs no read
   * of its own); detached when that attempt ends, whatever its outcome.
   */
  tap?: { feed: FileChunkHook; detach(): void };
}

const PinResponse = z.object({ IpfsHash: z.string().min(1), PinSize: z.number(), Timestamp: z.string() });

/** A client of Pinata's pinning API (or the local IPFS service, which speaks the same). */
export class PinataClient {
  #opts: PinataClientOptions;
  /** The logger's (shared with the process), so the JWT is hidden in error texts and log lines alike. */
  #redactor: Redactor;

  constructor(options: PinataClientOptions) {
    this.#opts = options;
    this.#redactor = options.logger?.redactor ?? new Redactor();
    this.#redactor.add(options.jwt);
  }

  /** Checks the JWT with `GET /data/testAuthentication`. */
  async testAuthentication(signal?: AbortSignal): Promise<void> {
    const res = await this.#send("/data/testAuthentication", { method: "GET", signal }).catch((error) => {
      throw new StorageError("upload_failed", "network", `Pinata unreachable: ${this.#clean(error)}`, {
        cause: error,
      });
    });
    await this.#check(res);
    await res.body?.cancel();
  }

  /** Uploads `tree` (files under `dir`) as one directory; retries 429, 5xx and connection failures with backoff. */
  pinDirectory(req: PinDirectoryRequest): Promise<PinResult> {
    const files: FormPart[] = [];
    for (const e of req.tree.entries) {
      if (e.kind !== "file") continue;
      files.push({ name: "file", filename: `${req.rootName}/${e.path}`, path: `${req.dir}/${e.path}`, size: e.size });
    }
    return this.pinParts(files, req);
  }

  /**
   * Uploads file parts (each named `<root>/<path>`) as one directory with `pinFileToIPFS`. The body is generated again
   * for each attempt and sent with its exact length.
   */
  async pinParts(
    files: FormPart[],
    req: Pick<PinDirectoryRequest, "name" | "keyvalues" | "signal" | "progress" | "tap">,
  ): Promise<PinResult> {
    const body = multipartBody([
      { name: "pinataOptions", value: JSON.stringify({ cidVersion: 1, wrapWithDirectory: false }) },
      { name: "pinataMetadata", value: JSON.stringify({ name: req.name, keyvalues: req.keyvalues }) },
      ...files,
    ]);
    const progress = req.progress;
    if (progress) progress.total = body.fileBytes;
    const onFileBytes = progress && ((n: number) => progress.add(n));
    const log = this.#opts.logger;
    let lastError: StorageError | undefined;
    for (let attempt = 0; attempt <= this.#opts.retries; attempt++) {
      req.signal?.throwIfAborted();
      let waitMs = backoffDelay(attempt, this.#opts.backoffBaseMs, this.#opts.backoffMaxMs ?? 60_000);
      try {
        progress?.restart();
        const timeout = timeoutSignal(this.#opts.attemptTimeoutMs);
        const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
        const res = await postSized(this.#url("/pinning/pinFileToIPFS"), {
          headers: { ...this.#auth(), "content-type": body.contentType },
          length: body.length,
          body: body.chunks(signal, onFileBytes, attempt === 0 ? req.tap?.feed : undefined),
          signal,
        }).finally(() => req.tap?.detach());
        waitMs = retryAfterMs(res.headers.get("retry-after")) ?? waitMs;
        await this.#check(res);
        const parsed = PinResponse.safeParse(await res.json());
        if (!parsed.success) {
          throw new StorageError("upload_failed", "http_status", "Pinata answered 200 without a valid IpfsHash", {
            retryable: false,
          });
        }
        return {
          cid: parsed.data.IpfsHash,
          pinSize: parsed.data.PinSize,
          timestamp: parsed.data.Timestamp,
          attempts: attempt + 1,
        };
      } catch (error) {
        if (req.signal?.aborted) {
          throw new StorageError("upload_failed", "aborted", "Upload cancelled", { cause: req.signal.reason });
        }
        lastError = error instanceof StorageError ? error : new StorageError(
          "upload_failed",
          "network",
          `Upload to Pinata failed: ${this.#clean(error)}`,
          { cause: error, retryable: true },
        );
        if (!lastError.retryable) throw lastError;
        log?.warn("upload attempt failed", { attempt: attempt + 1, detail: lastError.detail, error: lastError });
        if (attempt < this.#opts.retries) {
          await sleep(Math.min(waitMs, this.#opts.backoffMaxMs ?? 60_000), req.signal).catch(() => {});
        }
      }
    }
    throw new StorageError(
      "upload_failed",
      lastError?.detail ?? "network",
      `Upload failed after ${this.#opts.retries + 1} attempt(s): ${lastError?.message}`,
      { cause: lastError, retryable: true },
    );
  }

  /**
   * Removes the pin of `cid` (`DELETE /pinning/unpin/<cid>`, scope `unpin`). Resolves `false` when the key is not
   * allowed to (401/403), `true` once unpinned.
   */
  async unpin(cid: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.#send(`/pinning/unpin/${encodeURIComponent(cid)}`, { method: "DELETE", signal }).catch(
      (error) => {
        throw new StorageError("upload_failed", "network", `Pinata unreachable: ${this.#clean(error)}`, {
          cause: error,
        });
      },
    );
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      return false;
    }
    await this.#check(res);
    await res.body?.cancel();
    return true;
  }

  #url(path: string): string {
    return `${this.#opts.apiUrl.replace(/\/+$/, "")}${path}`;
  }

  #auth(): Record<string, string> {
    if (!this.#opts.jwt) {
      throw new StorageError("upload_failed", "unauthorized", "PINATA_JWT is not set: outputs cannot be uploaded", {
        retryable: false,
      });
    }
    return { authorization: `Bearer ${this.#opts.jwt}` };
  }

  #send(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(this.#auth())) headers.set(name, value);
    return fetch(this.#url(path), { ...init, headers });
  }

  async #check(res: Response): Promise<void> {
    if (res.ok) return;
    const text = this.#clean((await readBodyPrefix(res)).slice(0, 300));
    const s = res.status;
    if (s === 401 || s === 403) {
      throw new StorageError("upload_failed", "unauthorized", `Pinata rejected the JWT (HTTP ${s}): ${text}`, {
        retryable: false,
      });
    }
    const retryable = s === 429 || s === 408 || s >= 500;
    throw new StorageError(
      "upload_failed",
      retryable ? "network" : "http_status",
      `Pinata answered HTTP ${s}: ${text}`,
      {
        retryable,
      },
    );
  }

  /** Error text with the JWT (and every other registered secret) removed, whatever echoed it. */
  #clean(value: unknown): string {
    return this.#redactor.text(value instanceof Error ? value.message : String(value));
  }
}
