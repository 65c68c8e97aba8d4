/** Docker's multiplexed log stream (8-byte frame headers) split into stdout/stderr lines, in bounded memory. */

/** Which stream a line came from. */
export type LogStream = "stdout" | "stderr";

/** Longest line passed on; longer lines are cut and marked. */
export const MAX_LINE_BYTES = 16 * 1024;

/** Keeps the last `max` bytes of text written to it. */
export class TailBuffer {
  #max: number;
  #chunks: string[] = [];
  #size = 0;
  constructor(max: number) {
    this.#max = max;
  }
  /** Appends one line. */
  push(line: string): void {
    if (this.#max <= 0) return;
    const text = line.length > this.#max ? line.slice(line.length - this.#max) : line;
    this.#chunks.push(text);
    this.#size += text.length + 1;
    while (this.#size > this.#max && this.#chunks.length > 1) this.#size -= this.#chunks.shift()!.length + 1;
  }
  /** The kept tail, at most `max` characters. */
  text(): string {
    const all = this.#chunks.join("\n");
    return all.length > this.#max ? all.slice(all.length - this.#max) : all;
  }
}

/** Splits one stream's bytes into lines, cutting lines longer than `maxLine` bytes. */
class LineSplitter {
  #parts: Uint8Array[] = [];
  #size = 0;
  #dropping = false;
  #decoder = new TextDecoder();
  constructor(private stream: LogStream, private maxLine: number, private emit: (s: LogStream, l: string) => void) {}

  push(bytes: Uint8Array): void {
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(10, start);
      const end = nl === -1 ? bytes.length : nl;
      this.#append(bytes.subarray(start, end));
      if (nl === -1) break;
      this.#flush(false);
      start = nl + 1;
    }
  }

  #append(piece: Uint8Array): void {
    if (this.#dropping || piece.length === 0) return;
    const room = this.maxLine - this.#size;
    if (piece.length > room) {
      this.#parts.push(piece.slice(0, room));
      this.#size += room;
      this.#flush(true);
      this.#dropping = true; // the rest of this line is skipped, not buffered
      return;
    }
    this.#parts.push(piece.slice());
    this.#size += piece.length;
  }

  #flush(cut: boolean): void {
    if (this.#dropping && !cut) {
      this.#dropping = false;
      return;
    }
    const line = new Uint8Array(this.#size);
    let off = 0;
    for (const p of this.#parts) {
      line.set(p, off);
      off += p.length;
    }
    this.#parts = [];
    this.#size = 0;
    const text = this.#decoder.decode(line).replace(/\r$/, "");
    this.emit(this.stream, cut ? `${text} …[line cut at ${this.maxLine} bytes]` : text);
  }

  end(): void {
    if (this.#size > 0) this.#flush(false);
    this.#dropping = false;
  }
}

/** Byte counts per stream after a demultiplexed stream ended. */
export interface DemuxTotals {
  stdoutBytes: number;
  stderrBytes: number;
}

/**
 * Reads a multiplexed Docker stream (`[stream, 0, 0, 0, size(4, big-endian)]` + payload per frame) and calls
 * `onLine` for every line. Frames are consumed piecewise, so memory stays bounded whatever the frame sizes.
 */
export async function demultiplex(
  body: ReadableStream<Uint8Array>,
  onLine: (stream: LogStream, line: string) => void,
  options: { maxLine?: number } = {},
): Promise<DemuxTotals> {
  const maxLine = options.maxLine ?? MAX_LINE_BYTES;
  const splitters = {
    stdout: new LineSplitter("stdout", maxLine, onLine),
    stderr: new LineSplitter("stderr", maxLine, onLine),
  };
  const totals: DemuxTotals = { stdoutBytes: 0, stderrBytes: 0 };
  const header = new Uint8Array(8);
  let headerFill = 0;
  let remaining = 0;
  let current: LogStream = "stdout";
  for await (const chunk of body) {
    let i = 0;
    while (i < chunk.length) {
      if (remaining === 0) {
        const take = Math.min(8 - headerFill, chunk.length - i);
        header.set(chunk.subarray(i, i + take), headerFill);
        headerFill += take;
        i += take;
        if (headerFill < 8) break;
        headerFill = 0;
        // Stream 2 is stderr; 0 (stdin echo) and 1 are shown as stdout.
        current = header[0] === 2 ? "stderr" : "stdout";
        remaining = new DataView(header.buffer).getUint32(4);
        continue;
      }
      const take = Math.min(remaining, chunk.length - i);
      splitters[current].push(chunk.subarray(i, i + take));
      if (current === "stderr") totals.stderrBytes += take;
      else totals.stdoutBytes += take;
      remaining -= take;
      i += take;
    }
  }
  splitters.stdout.end();
  splitters.stderr.end();
  return totals;
}
