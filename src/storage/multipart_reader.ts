/** A streaming `multipart/form-data` parser: parts come one at a time, bodies are streamed, nothing is buffered whole. */

/** One part; `body` must be consumed (or drained) before the next part is read. */
export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  body: AsyncIterable<Uint8Array>;
}

/** The body is not valid multipart. */
export class MultipartError extends Error {
  override name = "MultipartError";
}

const MAX_HEADER_BYTES = 16 * 1024;
const BODY_READ_BYTES = 256 * 1024;
const enc = new TextEncoder();

/** Extracts the boundary from a `Content-Type` header. */
export function boundaryOf(contentType: string | null): string {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  if (!m || !/^multipart\/form-data/i.test(contentType ?? "")) throw new MultipartError("Not multipart/form-data");
  return m[1] ?? m[2];
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  outer: for (
    let i = hay.indexOf(first, from);
    i !== -1 && i <= hay.length - needle.length;
    i = hay.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  const nonEmpty = parts.filter((p) => p.byteLength > 0);
  if (nonEmpty.length === 1) return nonEmpty[0];
  const out = new Uint8Array(nonEmpty.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of nonEmpty) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** Parses `stream` as multipart with `boundary`, yielding parts in order. */
export async function* readMultipart(
  stream: ReadableStream<Uint8Array>,
  boundary: string,
): AsyncGenerator<MultipartPart> {
  const reader = stream.getReader();
  let buf: Uint8Array = new Uint8Array(0);
  let ended = false;
  // Gathers at least `minBytes` more bytes (or up to the end) with a single copy: request bodies can arrive in tiny
  // pieces, and handing those out one by one would cost a syscall each downstream.
  const more = async (minBytes = 1): Promise<boolean> => {
    if (ended) return false;
    const parts = [buf];
    let got = 0;
    while (got < minBytes) {
      const r = await reader.read();
      if (r.done) {
        ended = true;
        break;
      }
      parts.push(r.value);
      got += r.value.byteLength;
    }
    if (got === 0) return false;
    buf = concatAll(parts);
    return true;
  };
  const delimiter = enc.encode(`\r\n--${boundary}`);
  // The first boundary has no leading CRLF: pretend it had one.
  buf = enc.encode("\r\n");
  while (indexOf(buf, delimiter) === -1) {
    if (buf.length > MAX_HEADER_BYTES || !(await more())) throw new MultipartError("Missing the first boundary");
  }
  buf = buf.subarray(indexOf(buf, delimiter) + delimiter.length);
  try {
    while (true) {
      while (buf.length < 2) if (!(await more())) throw new MultipartError("Truncated after a boundary");
      if (buf[0] === 0x2d && buf[1] === 0x2d) return; // "--": the closing boundary
      if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw new MultipartError("Malformed boundary line");
      // From the boundary line's CRLF, headers end at the first empty line.
      let headerEnd: number;
      while ((headerEnd = indexOf(buf, enc.encode("\r\n\r\n"))) === -1) {
        if (buf.length > MAX_HEADER_BYTES || !(await more())) {
          throw new MultipartError("Part headers too long or truncated");
        }
      }
      const headerText = new TextDecoder().decode(buf.subarray(2, headerEnd));
      buf = buf.subarray(headerEnd + 4);
      const headers = new Map<string, string>();
      for (const line of headerText.split("\r\n")) {
        const i = line.indexOf(":");
        if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
      }
      const disposition = headers.get("content-disposition") ?? "";
      const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? "";
      const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
      let done = false;
      const body = async function* (): AsyncGenerator<Uint8Array> {
        while (true) {
          const at = indexOf(buf, delimiter);
          if (at !== -1) {
            if (at > 0) yield buf.subarray(0, at);
            buf = buf.subarray(at + delimiter.length);
            done = true;
            return;
          }
          // Keep a tail that could be the start of the delimiter; hand out the rest.
          const safe = buf.length - delimiter.length;
          if (safe > 0) {
            yield buf.subarray(0, safe);
            buf = buf.subarray(safe);
          }
          if (!(await more(BODY_READ_BYTES))) throw new MultipartError("Body ended inside a part");
        }
      };
      const it = body();
      yield {
        name,
        filename: filename === undefined ? undefined : decodeURIComponentSafe(filename),
        contentType: headers.get("content-type"),
        body: it,
      };
      if (!done) { for await (const _ of it) { /* drain what the consumer left */ } }
    }
  } finally {
    reader.releaseLock();
  }
}

function decodeURIComponentSafe(s: string): string {
  // Senders escape quotes and line breaks (WHATWG); other percent signs are literal. Decoded as undici (Node's
  // fetch) does: `%22` exactly, `%0D`/`%0A` in either case. Backslashes are not escapes.
  return s.replace(/%22|%0d|%0a/gi, (m) => (m === "%22" ? '"' : m.toLowerCase() === "%0d" ? "\r" : "\n"));
}
