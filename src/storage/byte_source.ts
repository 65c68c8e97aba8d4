/**
 * Bytes read into memory the reader chooses (a BYOB read): a large block can be read from the socket straight into its
 * own buffer instead of arriving in 64 KiB chunks that are queued, concatenated and copied again.
 */

/** A body read into caller-given memory. */
export interface ByteSource {
  /**
   * Fills a prefix of `view`. Resolves that prefix — a view on the same memory, or on the memory `view` was moved to
   * (a BYOB read transfers its buffer: use the result's `buffer`, never `view` again) — empty only at the end of the
   * body.
   */
  readInto(view: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
}

/** A body that can be read either way: chunk by chunk, or into memory of the reader's choosing. */
export type ByteStream = AsyncIterable<Uint8Array> & ByteSource;

/** Whether `body` can be read with {@linkcode ByteSource.readInto}. */
export function isByteSource(body: unknown): body is ByteSource {
  return typeof (body as ByteSource | undefined)?.readInto === "function";
}

/** A source over chunks: each read copies from the chunk at hand (for bodies that are not byte streams). */
export function chunkSource(chunks: AsyncIterable<Uint8Array>): ByteSource & { close(): Promise<void> } {
  const it = chunks[Symbol.asyncIterator]();
  let pending: Uint8Array = new Uint8Array(0);
  return {
    async readInto(view) {
      while (pending.byteLength === 0) {
        const next = await it.next();
        if (next.done) return view.subarray(0, 0);
        pending = next.value;
      }
      const n = Math.min(view.byteLength, pending.byteLength);
      view.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return view.subarray(0, n);
    },
    async close() {
      await it.return?.();
    },
  };
}

/**
 * Reads `stream` with a BYOB reader when it is a byte stream (Deno's `fetch` bodies are), else chunk by chunk with a
 * copy. `cancel()` releases the body.
 */
export function streamSource(
  stream: ReadableStream<Uint8Array>,
): ByteSource & { cancel(): Promise<void> } {
  let byob: ReadableStreamBYOBReader | undefined;
  let fallback: (ByteSource & { close(): Promise<void> }) | undefined;
  let plain: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    plain = stream.getReader();
    const reader = plain;
    fallback = chunkSource({
      async *[Symbol.asyncIterator]() {
        while (true) {
          const next = await reader.read();
          if (next.done) return;
          yield next.value;
        }
      },
    });
  }
  const readInto = async (view: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> => {
    if (!byob) return await fallback!.readInto(view);
    const length = view.byteLength; // the read detaches `view`
    const r = await byob.read(view);
    // A cancelled stream gives its memory back as undefined: nothing more will be read anyway.
    const got = r.value ?? new Uint8Array(0);
    if (r.done || got.byteLength > 0 || length === 0) return got;
    return await readInto(new Uint8Array(got.buffer, got.byteOffset, length));
  };
  const cancel = async () => {
    await (byob ?? plain)!.cancel().catch(() => {});
  };
  return { readInto, cancel };
}
