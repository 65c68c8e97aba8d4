/**
 * A POST whose body is streamed with an exact `Content-Length`. Deno's `fetch` sends every stream body with
 * `Transfer-Encoding: chunked` and drops a `Content-Length` header given with it; how Pinata treats chunked uploads is
 * unknown, so uploads go through `node:http`, which sends the announced length and streams with backpressure.
 */
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";

/** What {@linkcode postSized} sends. */
export interface SizedPost {
  headers: Record<string, string>;
  /** The exact number of bytes `body` yields; sent as `Content-Length`. */
  length: number;
  body: AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
}

/**
 * Sends `post` to `url` and resolves with the answer as a web `Response` once its head has arrived (also when the
 * server answers before reading the whole body, e.g. a 401). Rejects on connection errors and on abort. The body
 * iterator is always closed (its files with it), whatever happens.
 */
export function postSized(url: string, post: SizedPost): Promise<Response> {
  const target = new URL(url);
  const client = target.protocol === "https:" ? https : http;
  post.signal?.throwIfAborted();
  return new Promise<Response>((resolve, reject) => {
    const req = client.request(target, {
      method: "POST",
      headers: { ...post.headers, "content-length": String(post.length) },
      // One connection per upload, closed afterwards: nothing pooled outlives the request.
      agent: false,
    });
    let answered = false;
    const onAbort = () => req.destroy(post.signal?.reason ?? new Error("aborted"));
    post.signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => post.signal?.removeEventListener("abort", onAbort);
    req.on("close", done);
    req.on("error", (error) => {
      done();
      if (!answered) reject(post.signal?.aborted ? post.signal.reason : error);
    });
    req.on("response", (res) => {
      answered = true;
      // Once the answer is read (or dropped) the request is over, sent in full or not.
      res.on("end", () => req.destroy());
      res.on("close", () => req.destroy());
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
      }
      const status = res.statusCode ?? 502;
      const body = status === 204 || status === 304 ? null : Readable.toWeb(res) as ReadableStream<Uint8Array>;
      resolve(new Response(body, { status, statusText: res.statusMessage, headers }));
    });
    void writeBody(req, post.body, () => answered);
  });
}

async function writeBody(req: http.ClientRequest, body: AsyncIterable<Uint8Array>, answered: () => boolean) {
  const it = body[Symbol.asyncIterator]();
  try {
    while (!req.destroyed && !answered()) {
      const next = await it.next();
      if (next.done) {
        req.end();
        return;
      }
      if (!req.write(next.value)) await drained(req);
    }
  } catch (error) {
    req.destroy(error as Error);
  } finally {
    await it.return?.();
  }
}

/** Resolves when the socket takes more, or the request is gone (a destroyed request never drains). */
function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const settle = () => {
      req.off("drain", settle);
      req.off("close", settle);
      resolve();
    };
    req.on("drain", settle);
    req.on("close", settle);
  });
}
