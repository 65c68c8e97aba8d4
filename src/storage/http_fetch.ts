/** HTTP with the two timeouts a long download needs: until the response starts, and between body chunks. */
import { type ByteStream, streamSource } from "./byte_source.ts";

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
  /** The body, as chunks or read into given memory; throws {@linkcode InactivityError} when it stalls. */
  body: ByteStream;
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
  return { response, body: watchedBody(response, controller, options.inactivityTimeoutMs, close), close };
}

/**
 * The body as a {@linkcode ByteStream}, erroring with {@linkcode InactivityError} when one read waits longer than
 * `inactivityMs`. One timer per response, re-armed only when it fires (a timer per chunk costs more than the read).
 * Time the consumer spends between reads is not inactivity.
 */
function watchedBody(
  response: Response,
  controller: AbortController,
  inactivityMs: number,
  close: () => void,
): ByteStream {
  if (!response.body) {
    return { readInto: (view) => Promise.resolve(view.subarray(0, 0)), [Symbol.asyncIterator]: async function* () {} };
  }
  let waitingSince: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    const waited = waitingSince === undefined ? 0 : performance.now() - waitingSince;
    if (waited >= inactivityMs) {
      timer = undefined;
      controller.abort(new InactivityError(`No data for ${inactivityMs} ms`));
      return;
    }
    timer = setTimeout(check, inactivityMs - waited);
  };
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const source = streamSource(response.body);
  const finish = () => {
    stop();
    source.cancel();
    close();
  };
  const readInto = async (view: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> => {
    if (controller.signal.aborted) throw reasonOr(controller.signal, new DOMException("closed", "AbortError"));
    timer ??= setTimeout(check, inactivityMs);
    waitingSince = performance.now();
    try {
      const got = await source.readInto(view);
      if (got.byteLength === 0) finish();
      return got;
    } catch (error) {
      // The reason first: finishing aborts the request, which would hide why it broke.
      const reason = reasonOr(controller.signal, error);
      finish();
      throw reason;
    } finally {
      waitingSince = undefined;
    }
  };
  return {
    readInto,
    async *[Symbol.asyncIterator]() {
      try {
        while (true) {
          const got = await readInto(new Uint8Array(256 * 1024));
          if (got.byteLength === 0) return;
          // A short read is copied out, so a kept chunk does not pin the whole buffer.
          yield got.byteLength < 64 * 1024 ? got.slice() : got;
        }
      } finally {
        finish();
      }
    },
  };
}

function reasonOr(signal: AbortSignal, error: unknown): unknown {
  return signal.reason instanceof Error ? signal.reason : error;
}
