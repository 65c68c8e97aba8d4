/** A JSON-RPC provider over several HTTP endpoints: per-request timeout, failover in order, fixed network. */
import { backoffDelay, timeoutSignal } from "../timers.ts";
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
  /**
   * A failed or throttling endpoint is passed over for a backoff delay ({@linkcode backoffDelay}): the first one at
   * most `retryBaseMs` (default 30 s), doubling per consecutive failure up to `retryMaxMs` (default 5 minutes).
   */
  retryBaseMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
  /** Jitter source of the backoff (tests pin it). */
  random?: () => number;
}

/** What one endpoint answered to `eth_chainId`. */
export interface EndpointCheck {
  /** The URL with credentials removed. */
  url: string;
  chainId?: bigint;
  error?: string;
}

/** Health of one endpoint: consecutive failures, and until when it is passed over. */
interface EndpointHealth {
  failures: number;
  retryAt: number;
}

/**
 * Sends each request to the first endpoint, in order, that is not backing off; on a network error, a timeout, a
 * non-2xx HTTP status or a throttling answer (JSON-RPC `-32005`, "limit exceeded", "rate limit", "too many
 * requests") it tries the next one, and the failed endpoint backs off. Other JSON-RPC error answers (reverts, nonce
 * errors) are answers, not failures: they are not retried.
 */
export class FailoverRpcProvider extends JsonRpcApiProvider {
  /** The endpoint URLs, in preference order. */
  readonly urls: readonly string[];
  readonly #timeoutMs: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #random: () => number;
  readonly #logger?: Logger;
  readonly #health: EndpointHealth[];
  #current = 0;

  constructor(urls: readonly string[], options: FailoverRpcOptions) {
    if (urls.length === 0) throw new ChainError("No RPC endpoint: set OPBNB_RPC_URL");
    const network = Network.from(options.chainId);
    super(network, { staticNetwork: network, batchMaxCount: 1, cacheTimeout: -1 });
    this.urls = [...urls];
    this.#timeoutMs = options.timeoutMs;
    this.#retryBaseMs = options.retryBaseMs ?? 30_000;
    this.#retryMaxMs = options.retryMaxMs ?? 5 * 60_000;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
    this.#health = this.urls.map(() => ({ failures: 0, retryAt: 0 }));
  }

  /** The endpoint that answered last (credentials removed). */
  get currentUrl(): string {
    return redactUrl(this.urls[this.#current]);
  }

  override async send(method: string, params: Array<unknown> | Record<string, unknown>): Promise<unknown> {
    // Like JsonRpcProvider: HTTP needs no connection set-up, so the provider is ready at once.
    this._start();
    return await super.send(method, params);
  }

  override async _send(payload: JsonRpcPayload | Array<JsonRpcPayload>): Promise<Array<JsonRpcResult>> {
    const now = Date.now();
    const indexes = this.urls.map((_, i) => i);
    // Endpoints backing off go last: when every other one fails, they are still tried rather than nothing.
    const order = [
      ...indexes.filter((i) => this.#health[i].retryAt <= now),
      ...indexes.filter((i) => this.#health[i].retryAt > now),
    ];
    const failures = new Map<number, string>();
    for (const index of order) {
      try {
        const result = await this.#post(this.urls[index], payload);
        this.#health[index] = { failures: 0, retryAt: 0 };
        if (index !== this.#current) {
          const was = redactUrl(this.urls[this.#current]);
          const now = redactUrl(this.urls[index]);
          if (index < this.#current) this.#logger?.info("RPC endpoint answers again; using it", { was, now });
          else {this.#logger?.warn("RPC endpoint failed; using the next one", {
              was,
              now,
              error: failures.get(this.#current),
            });}
          this.#current = index;
        }
        return result;
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) throw error;
        const message = (error as Error).message;
        const retryInMs = this.#backOff(index);
        this.#logger?.debug("RPC endpoint failed", { url: redactUrl(this.urls[index]), error: message, retryInMs });
        failures.set(index, message);
      }
    }
    const all = [...failures].map(([i, message]) => `${redactUrl(this.urls[i])}: ${message}`);
    throw new ChainError(`No RPC endpoint answered (${all.join("; ")})`);
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

  /** Counts a failure of endpoint `index` and passes it over for the next backoff delay; returns that delay. */
  #backOff(index: number): number {
    const health = this.#health[index];
    const delay = backoffDelay(health.failures, this.#retryBaseMs, this.#retryMaxMs, this.#random);
    this.#health[index] = { failures: health.failures + 1, retryAt: Date.now() + delay };
    return delay;
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
    const throttled = list.map((r) => throttling(r.error)).find((t) => t !== undefined);
    if (throttled) throw new Error(`throttled (${throttled})`);
    return list as Array<JsonRpcResult>;
  }
}

// Rate-limit messages of public RPCs (Infura, Alchemy, QuickNode, BNB Chain's): the answer comes over HTTP 200.
const THROTTLE_MESSAGE = /limit exceeded|rate.?limit|too many requests|request limit reached/i;

/**
 * `code message` when a JSON-RPC error is the endpoint refusing to serve (EIP-1474 `-32005` "limit exceeded", or
 * code 429 or a rate-limit message), not an answer to the request. Reverts (code 3) are answers, whatever they say.
 */
export function throttling(error: unknown): string | undefined {
  if (!error || typeof error !== "object") return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === "string" ? message.slice(0, 200) : "";
  if (code === -32005 || code === 429 || (code !== 3 && THROTTLE_MESSAGE.test(text))) return `${code} ${text}`.trim();
  return undefined;
}
