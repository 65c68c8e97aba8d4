/** HTTP with the two timeouts a long download needs: until the response starts, and between body chunks. */

/** The body went quiet for longer than the inactivity timeout. */
export class InactivityError extends Error {
  override name = "InactivityError";
}

/** Options for {@linkcode fetchWithTimeouts}. */
export interface TimedFetchOptions {
  /** Milliseconds until the response headers arrive. */
  requestTimeoutMs: number;
  /** Milliseconds allowed between two body chunks. */
  inactivityTimeoutMs: number;
  signal?: AbortSignal;
  headers?: HeadersInit;
  method?: string;
  body?: BodyInit;
}

/** A response whose body is watched for inactivity; `close()` releases the connection. */
export interface TimedResponse {
  response: Response;
  /** The body as chunks; throws {@linkcode InactivityError} when it stalls. */
  body: AsyncIterable<Uint8Array>;
  /** Cancels the request and the body. */
  close(): void;
}

/** Fetches `url`; the returned body errors if no bytes arrive for `inactivityTimeoutMs`. */
export async function fetchWithTimeouts(url: string, options: TimedFetchOptions): Promise<TimedResponse> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) controller.abort(options.signal.reason);
  const requestTimer = setTimeout(
    () => controller.abort(new DOMException(`No response within ${options.requestTimeoutMs} ms`, "TimeoutError")),
    options.requestTimeoutMs,
  );
  const close = () => {
    clearTimeout(requestTimer);
    options.signal?.removeEventListener("abort", onAbort);
    if (!controller.signal.aborted) controller.abort(new DOMException("closed", "AbortError"));
  };
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? "GET",
      headers: options.headers,
      body: options.body,
      signal: controller.signal,
      redirect: "follow",
    });
  } catch (error) {
    close();
    throw controller.signal.reason instanceof Error ? controller.signal.reason : error;
  } finally {
    clearTimeout(requestTimer);
  }
  async function* body(): AsyncGenerator<Uint8Array> {
    if (!response.body) return;
    const reader = response.body.getReader();
    try {
      while (true) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stalled = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new InactivityError(`No data for ${options.inactivityTimeoutMs} ms`);
            controller.abort(error);
            reject(error);
          }, options.inactivityTimeoutMs);
        });
        try {
          const next = await Promise.race([reader.read(), stalled]);
          if (next.done) return;
          yield next.value;
        } catch (error) {
          throw controller.signal.reason instanceof Error ? controller.signal.reason : error;
        } finally {
          clearTimeout(timer);
        }
      }
    } finally {
      reader.cancel().catch(() => {});
      close();
    }
  }
  return { response, body: body(), close };
}
