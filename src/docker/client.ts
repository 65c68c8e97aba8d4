/** A thin Docker Engine API client: `fetch` over the unix socket (or TCP), JSON errors decoded. */

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

/** Docker could not be reached at all (no socket, permission denied, connection refused). */
export class DockerUnreachableError extends Error {
  override name = "DockerUnreachableError";
  readonly host: string;
  constructor(host: string, options?: ErrorOptions) {
    const why = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? "unknown error");
    super(
      `cannot reach Docker at ${host}: ${why} — is dockerd running and is the socket readable by this user?`,
      options,
    );
    this.host = host;
  }
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
      throw new DockerUnreachableError(this.host, { cause: error });
    }
    if (res.status >= 400 && !options.okStatuses?.includes(res.status)) {
      const text = await res.text();
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
