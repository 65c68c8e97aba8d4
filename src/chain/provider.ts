/** A JSON-RPC provider over several HTTP endpoints: per-request timeout, failover in order, fixed network. */
import { timeoutSignal } from "../timers.ts";
import { JsonRpcApiProvider, type JsonRpcPayload, type JsonRpcResult, Network } from "ethers";
import { redactUrl } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { ChainError } from "./errors.ts";

/** Options for {@linkcode FailoverRpcProvider}. */
export interface FailoverRpcOptions {
  /** The chain the endpoints must serve; used as the static network so the provider never probes in a loop. */
  chainId: number;
  /** Timeout of one request to one endpoint, in ms. */
  timeoutMs: number;
  /** After failing over, go back to the first endpoint after this many ms (default 5 minutes). */
  primaryRetryMs?: number;
  logger?: Logger;
}

/** What one endpoint answered to `eth_chainId`. */
export interface EndpointCheck {
  /** The URL with credentials removed. */
  url: string;
  chainId?: bigint;
  error?: string;
}

/**
 * Sends each request to the current endpoint; on a network error, a timeout or a non-2xx HTTP status it tries the
 * next one, in order. JSON-RPC error answers (reverts, nonce errors) are answers, not failures: they are not retried.
 */
export class FailoverRpcProvider extends JsonRpcApiProvider {
  /** The endpoint URLs, in preference order. */
  readonly urls: readonly string[];
  readonly #timeoutMs: number;
  readonly #primaryRetryMs: number;
  readonly #logger?: Logger;
  #current = 0;
  #failedOverAt = 0;

  constructor(urls: readonly string[], options: FailoverRpcOptions) {
    if (urls.length === 0) throw new ChainError("No RPC endpoint: set OPBNB_RPC_URL");
    const network = Network.from(options.chainId);
    super(network, { staticNetwork: network, batchMaxCount: 1, cacheTimeout: -1 });
    this.urls = [...urls];
    this.#timeoutMs = options.timeoutMs;
    this.#primaryRetryMs = options.primaryRetryMs ?? 5 * 60_000;
    this.#logger = options.logger;
  }

  /** The endpoint requests go to now (credentials removed). */
  get currentUrl(): string {
    return redactUrl(this.urls[this.#current]);
  }

  override async send(method: string, params: Array<unknown> | Record<string, unknown>): Promise<unknown> {
    // Like JsonRpcProvider: HTTP needs no connection set-up, so the provider is ready at once.
    this._start();
    return await super.send(method, params);
  }

  override async _send(payload: JsonRpcPayload | Array<JsonRpcPayload>): Promise<Array<JsonRpcResult>> {
    if (this.#current !== 0 && Date.now() - this.#failedOverAt > this.#primaryRetryMs) this.#current = 0;
    const failures: string[] = [];
    for (let n = 0; n < this.urls.length; n++) {
      const index = (this.#current + n) % this.urls.length;
      try {
        const result = await this.#post(this.urls[index], payload);
        if (index !== this.#current) {
          this.#logger?.warn("RPC endpoint failed; using the next one", {
            failed: redactUrl(this.urls[this.#current]),
            now: redactUrl(this.urls[index]),
          });
          this.#current = index;
          this.#failedOverAt = Date.now();
        }
        return result;
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) throw error;
        failures.push(`${redactUrl(this.urls[index])}: ${(error as Error).message}`);
      }
    }
    throw new ChainError(`No RPC endpoint answered (${failures.join("; ")})`);
  }

  /** Asks every endpoint for its chain id (start-up check: a failover endpoint on another chain is a config error). */
  async checkEndpoints(): Promise<EndpointCheck[]> {
    const payload = { id: 1, jsonrpc: "2.0", method: "eth_chainId", params: [] } as JsonRpcPayload;
    return await Promise.all(this.urls.map(async (url) => {
      try {
        const [answer] = await this.#post(url, payload);
        if ("error" in answer) {
          return { url: redactUrl(url), error: String((answer.error as { message?: unknown })?.message ?? "error") };
        }
        return { url: redactUrl(url), chainId: BigInt(answer.result as string) };
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) throw error;
        return { url: redactUrl(url), error: (error as Error).message };
      }
    }));
  }

  async #post(url: string, payload: JsonRpcPayload | Array<JsonRpcPayload>): Promise<Array<JsonRpcResult>> {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload),
        signal: timeoutSignal(this.#timeoutMs),
      });
    } catch (error) {
      // The permission sandbox refuses this host: not an outage to fail over past (the CLI names OPBNB_RPC_URL).
      if (error instanceof Deno.errors.NotCapable) throw error;
      const e = error as Error;
      // Messages are kept short and never include the URL (it may hold an API key): the caller adds a redacted one.
      throw new Error(e.name === "TimeoutError" ? `timed out after ${this.#timeoutMs} ms` : "connection failed");
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      throw new Error("answer is not JSON");
    }
    const list = Array.isArray(body) ? body : [body];
    if (!list.every((r) => r && typeof r === "object" && ("result" in r || "error" in r))) {
      throw new Error("answer is not JSON-RPC");
    }
    return list as Array<JsonRpcResult>;
  }
}
