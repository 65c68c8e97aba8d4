/** A thin Docker Engine API client: `fetch` over the unix socket (or TCP), JSON errors decoded. */
import { readBodyPrefix } from "../http_body.ts";

/** A Docker API call failed; keeps the HTTP status, the API path and Docker's own message. */
export class DockerError extends Error {
  override name = "DockerError";
  readonly status: number;
  readonly path: string;
  constructor(status: number, path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
    this.path = path;
  }
}

/**
 * Docker could not be reached at all. The message says what the OS error (`cause`) means for an operator and how to
 * fix it: no socket, a socket this user may not open, nothing listening.
 */
export class DockerUnreachableError extends Error {
  override name = "DockerUnreachableError";
  readonly host: string;
  constructor(host: string, options?: ErrorOptions) {
    super(unreachableMessage(host, options?.cause), options);
    this.host = host;
  }
}

function unreachableMessage(host: string, cause: unknown): string {
  const where = host.startsWith("unix://") ? host.slice("unix://".length) : host;
  const elsewhere = "is dockerd running? set DOCKER_HOST if it listens elsewhere";
  if (cause instanceof Deno.errors.NotFound) return `no Docker daemon at ${host}: ${elsewhere}`;
  if (cause instanceof Deno.errors.ConnectionRefused) return `nothing listens at ${host}: ${elsewhere}`;
  if (cause instanceof Deno.errors.PermissionDenied) {
    return `permission denied on ${where}: add the agent's user to the docker group (usermod -aG docker USER) ` +
      `or set DOCKER_HOST`;
  }
  const why = cause instanceof Error ? cause.message : String(cause ?? "unknown error");
  return `cannot reach Docker at ${host}: ${why} — ${elsewhere}`;
}

/**
 * The error behind a failed request, for {@linkcode DockerUnreachableError}. `fetch` buries the OS error in text two
 * causes down ("fetch failed" → "error sending request … (os error 13)"); a plain connect to the same address answers
 * with a typed one (`Deno.errors.PermissionDenied`), so the address is connected to once more to get that.
 */
async function connectFailure(host: string, error: unknown): Promise<unknown> {
  let cause = error;
  while (cause instanceof Error && cause.cause !== undefined) cause = cause.cause;
  const url = host.startsWith("tcp://") ? new URL(`http://${host.slice("tcp://".length)}`) : undefined;
  try {
    const conn = url
      ? await Deno.connect({ hostname: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 2375) })
      : await Deno.connect({ transport: "unix", path: host.slice("unix://".length) });
    conn.close();
  } catch (connectError) {
    // NotCapable: the sandbox allows the socket to fetch but not to this probe; keep what fetch said.
    if (connectError instanceof Error && !(connectError instanceof Deno.errors.NotCapable)) cause = connectError;
  }
  return cause;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON-serialized unless it is a stream, bytes or a string. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Statuses that are not errors for this call (e.g. 304 "already started"). */
  okStatuses?: number[];
}

/** Talks HTTP to one Docker daemon. `DOCKER_HOST` forms: `unix:///path.sock`, `tcp://host:port`. */
export class DockerClient {
  readonly host: string;
  #base: string;
  #client?: Deno.HttpClient;
  #apiPrefix = "";

  constructor(host: string) {
    this.host = host;
    if (host.startsWith("unix://")) {
      this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: host.slice("unix://".length) } });
      this.#base = "http://localhost";
    } else if (host.startsWith("tcp://")) {
      this.#base = `http://${host.slice("tcp://".length).replace(/\/$/, "")}`;
    } else {
      throw new TypeError(`Cannot use Docker host ${JSON.stringify(host)}: expected unix:///path or tcp://host:port`);
    }
  }

  /** Pins every later call to API version `version` (e.g. `1.41`), as negotiated from `/version`. */
  useApiVersion(version: string): void {
    this.#apiPrefix = `/v${version}`;
  }

  /** Sends one request; throws {@linkcode DockerError} for error statuses and {@linkcode DockerUnreachableError} when the daemon cannot be reached. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.#apiPrefix + path, this.#base);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers = new Headers(options.headers);
    let body: BodyInit | undefined;
    const b = options.body;
    if (b === undefined) body = undefined;
    else if (b instanceof ReadableStream || b instanceof Uint8Array || typeof b === "string") {
      body = b as BodyInit;
    } else {
      body = JSON.stringify(b);
      headers.set("content-type", "application/json");
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, signal: options.signal, client: this.#client });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new DockerUnreachableError(this.host, { cause: await connectFailure(this.host, error) });
    }
    if (res.status >= 400 && !options.okStatuses?.includes(res.status)) {
      // Docker's error is a short JSON object; a few KiB hold it, the rest (whatever it is) is never read.
      const text = await readBodyPrefix(res);
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch { /* not JSON: keep the text */ }
      throw new DockerError(res.status, path, `Docker ${method} ${path} failed (${res.status}): ${message}`);
    }
    return res;
  }

  /** Sends a request and decodes the JSON answer. */
  async json<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
    const res = await this.request(method, path, options);
    if (res.status === 204 || res.status === 304) {
      await res.body?.cancel();
      return undefined as T;
    }
    return await res.json() as T;
  }

  /** Sends a request and discards the answer body. */
  async send(method: string, path: string, options?: RequestOptions): Promise<number> {
    const res = await this.request(method, path, options);
    await res.body?.cancel();
    return res.status;
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#client?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
