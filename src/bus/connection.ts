/**
 * The NATS connection: the only module that imports the transport (`nats-transport`), so another transport can be
 * swapped in here. Multiple servers, creds/nkey/token/user auth, TLS files, reconnect forever with capped backoff,
 * connection events logged and exposed (`connected` + listeners) for readiness and the status outbox.
 */
import { connect, credsAuthenticator, nkeyAuthenticator } from "nats-transport";
import type { NatsConnection, NodeConnectionOptions, Status } from "nats-transport";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "../log/mod.ts";
import { formatDuration } from "../config/mod.ts";
import { abortable, backoffDelay, retryDelay, sleep } from "../timers.ts";
import { BusError } from "./errors.ts";

/** How to reach and authenticate to NATS. */
export interface BusConnectOptions {
  servers: string[];
  /** Client name shown in server monitoring. */
  name?: string;
  /** A `.creds` file (JWT + nkey seed). */
  credsFile?: string;
  /** A file holding an nkey seed (`SU…`). */
  nkeySeedFile?: string;
  token?: string;
  user?: string;
  password?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** First reconnect delay; doubles per failed round up to `reconnectMaxWaitMs`. Default 250 ms. */
  reconnectWaitMs?: number;
  /** Default 5 s. */
  reconnectMaxWaitMs?: number;
  /** Client pings; a dead server is noticed after about 2 × this. Default 10 s. */
  pingIntervalMs?: number;
}

/** A connection event, as logged and handed to listeners. */
export interface BusEvent {
  type: "connected" | "disconnected" | "reconnecting" | "reconnected" | "error" | "stale" | "closed" | "update";
  server?: string;
  error?: Error;
}

/** An open NATS connection with readiness state; close with `close()` or `await using`. */
export class BusConnection implements AsyncDisposable {
  readonly nc: NatsConnection;
  #logger: Logger;
  #connected = true;
  #listeners = new Set<(event: BusEvent) => void>();
  #js?: JetStreamClient;
  #jsm?: Promise<JetStreamManager>;
  #closed = false;

  private constructor(nc: NatsConnection, logger: Logger) {
    this.nc = nc;
    this.#logger = logger;
  }

  /**
   * Connects, retrying forever (with backoff, each failed attempt logged with its cause and passed to `onRetry`) until
   * a server answers or `signal` aborts. Each attempt is bounded by `attemptTimeoutMs`, so an abort ends the wait at
   * once and leaves nothing running. Throws {@linkcode BusError} on a configuration problem (unreadable creds file) or
   * on abort.
   */
  static async connect(
    options: BusConnectOptions,
    logger: Logger,
    signal?: AbortSignal,
    hooks: { onRetry?(attempt: number, error: Error, delayMs: number): void; attemptTimeoutMs?: number } = {},
  ): Promise<BusConnection> {
    const log = logger.child({ component: "bus" });
    const backoff = new Backoff(options.reconnectWaitMs ?? 250, options.reconnectMaxWaitMs ?? 5000);
    const opts = await connectionOptions(options, backoff);
    const attemptTimeoutMs = hooks.attemptTimeoutMs ?? 5000;
    const abortError = () => new BusError("NATS connect aborted", { cause: signal?.reason });
    for (let attempt = 1;; attempt++) {
      if (signal?.aborted) throw abortError();
      const pending = connect({ ...opts, waitOnFirstConnect: false, timeout: attemptTimeoutMs });
      let nc: NatsConnection;
      try {
        nc = await abortable(pending, signal);
      } catch (error) {
        if (signal?.aborted) {
          pending.then((late) => late.close()).catch(() => {});
          throw abortError();
        }
        // The permission sandbox refuses this server: retrying cannot help (the CLI names NATS_URL, exits 78).
        if (error instanceof Deno.errors.NotCapable) throw error;
        const delayMs = retryDelay(attempt - 1, options.reconnectWaitMs ?? 250, options.reconnectMaxWaitMs ?? 5000);
        const cause = error as Error;
        log.warn(`NATS not reachable at ${options.servers.join(",")}; retrying in ${formatDuration(delayMs)}`, {
          attempt,
          error: cause,
        });
        hooks.onRetry?.(attempt, cause, delayMs);
        try {
          await sleep(delayMs, signal);
        } catch {
          throw abortError();
        }
        continue;
      }
      const bus = new BusConnection(nc, log);
      log.info("NATS connected", { server: nc.getServer(), ...(attempt > 1 ? { attempts: attempt } : {}) });
      bus.#watch(backoff);
      return bus;
    }
  }

  /** Whether the connection is currently up. */
  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /** The server in use (`host:port`). */
  get server(): string {
    return this.nc.getServer();
  }

  /** Adds a listener for connection events; returns a function that removes it. */
  onEvent(listener: (event: BusEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A JetStream client on this connection. */
  jetstream(): JetStreamClient {
    this.#js ??= jetstream(this.nc, { timeout: 5000 });
    return this.#js;
  }

  /** A JetStream manager on this connection (stream and consumer administration). */
  jetstreamManager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.nc, { timeout: 5000 }).catch((error) => {
      this.#jsm = undefined;
      throw error;
    });
    return this.#jsm;
  }

  /** Flushes pending publishes and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    } finally {
      await this.nc.closed();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #emit(event: BusEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (error) {
        this.#logger.error("NATS event listener failed", { error });
      }
    }
  }

  async #watch(backoff: Backoff): Promise<void> {
    try {
      for await (const s of this.nc.status() as AsyncIterable<Status>) {
        switch (s.type) {
          case "disconnect":
            this.#connected = false;
            this.#logger.warn("NATS disconnected", { server: s.server });
            this.#emit({ type: "disconnected", server: s.server });
            break;
          case "reconnecting":
            this.#logger.debug("NATS reconnecting");
            this.#emit({ type: "reconnecting" });
            break;
          case "reconnect":
            this.#connected = true;
            backoff.reset();
            this.#logger.info("NATS reconnected", { server: s.server });
            this.#emit({ type: "reconnected", server: s.server });
            break;
          case "error":
            this.#logger.warn("NATS error", { error: s.error });
            this.#emit({ type: "error", error: s.error });
            break;
          case "staleConnection":
            this.#logger.warn("NATS connection stale");
            this.#emit({ type: "stale" });
            break;
          case "update":
            this.#emit({ type: "update" });
            break;
          case "close":
            this.#connected = false;
            break;
        }
      }
    } finally {
      this.#connected = false;
      if (!this.#closed) this.#logger.error("NATS connection closed");
      this.#emit({ type: "closed" });
    }
  }
}

/** Exponential reconnect delay with jitter, reset on success. */
class Backoff {
  #n = 0;
  constructor(readonly baseMs: number, readonly maxMs: number) {}
  next(): number {
    return backoffDelay(this.#n++, this.baseMs, this.maxMs);
  }
  reset(): void {
    this.#n = 0;
  }
}

async function readSecretFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (cause) {
    // The path is not secret; the content is, and never appears.
    throw new BusError(`Cannot read NATS ${what} file ${path}: ${(cause as Error).name}`, { cause });
  }
}

/**
 * A plain connection with the same server list, auth and TLS handling, for short-lived clients (`doctor`,
 * `submit`): one attempt of `timeoutMs` (default 5 s); after that it reconnects only when `reconnect` is set.
 */
export async function connectClient(
  o: BusConnectOptions,
  options: { reconnect: boolean; timeoutMs?: number },
): Promise<NatsConnection> {
  const base = await connectionOptions(o, new Backoff(o.reconnectWaitMs ?? 250, o.reconnectMaxWaitMs ?? 5000));
  return await connect({
    ...base,
    reconnect: options.reconnect,
    waitOnFirstConnect: false,
    timeout: options.timeoutMs ?? 5000,
  });
}

/** The client types callers of {@linkcode connectClient} need, so no other module imports the transport. */
export type { NatsConnection, Status };

/**
 * The NATS client ignores credentials written into server URLs (`nats://user:pass@host`, `nats://token@host`): they
 * are taken out here and passed as options, the URLs left without them. Explicit NATS_USER / NATS_TOKEN win.
 */
export function splitUrlCredentials(
  servers: string[],
): { servers: string[]; user?: string; pass?: string; token?: string } {
  let found: { user?: string; pass?: string; token?: string } = {};
  const plain = servers.map((server) => {
    let u: URL;
    try {
      u = new URL(server);
    } catch {
      return server;
    }
    if (!u.username && !u.password) return server;
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    if (!found.user && !found.token) found = u.password ? { user, pass } : { token: user };
    u.username = "";
    u.password = "";
    return u.toString().replace(/\/$/, "");
  });
  return { servers: plain, ...found };
}

async function connectionOptions(o: BusConnectOptions, backoff: Backoff): Promise<NodeConnectionOptions> {
  if (o.servers.length === 0) throw new BusError("No NATS server configured");
  const fromUrls = splitUrlCredentials(o.servers);
  const opts: NodeConnectionOptions = {
    servers: fromUrls.servers,
    name: o.name,
    reconnect: true,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectDelayHandler: () => backoff.next(),
    pingInterval: o.pingIntervalMs ?? 10_000,
    maxPingOut: 2,
    // Deno's node net resolves names itself; the client's own resolver would need broader --allow-net.
    resolve: false,
    ignoreAuthErrorAbort: true,
    // Without it every request (each JetStream publish and ack) captures a stack trace for a richer error message.
    noAsyncTraces: true,
  };
  const authenticators = [];
  if (o.credsFile) authenticators.push(credsAuthenticator(await readSecretFile(o.credsFile, "creds")));
  if (o.nkeySeedFile) {
    const seed = new TextDecoder().decode(await readSecretFile(o.nkeySeedFile, "nkey seed")).trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  if (authenticators.length > 0) opts.authenticator = authenticators;
  if (o.token) opts.token = o.token;
  else if (fromUrls.token && !o.user) opts.token = fromUrls.token;
  if (o.user) {
    opts.user = o.user;
    opts.pass = o.password ?? "";
  } else if (fromUrls.user && !o.token) {
    opts.user = fromUrls.user;
    opts.pass = fromUrls.pass ?? "";
  }
  const tlsUrl = o.servers.some((s) => s.startsWith("tls://"));
  if (o.tls?.caFile || o.tls?.certFile || o.tls?.keyFile || tlsUrl) {
    opts.tls = {};
    if (o.tls?.caFile) opts.tls.caFile = o.tls.caFile;
    if (o.tls?.certFile) opts.tls.certFile = o.tls.certFile;
    if (o.tls?.keyFile) opts.tls.keyFile = o.tls.keyFile;
  }
  return opts;
}
