/**
 * Progress of long transfers, counted as bytes move: a rewritten line on a terminal, a log line every few seconds
 * otherwise. One counter per transfer; where its reports go is a {@linkcode ProgressSink}.
 */
import type { Logger } from "./logger.ts";

/** One report of a transfer's progress. */
export interface ProgressReport {
  /** What moves, for people: `downloading input bafy…`, `uploading output`. */
  label: string;
  /** Bytes moved so far. */
  bytes: number;
  /** Bytes expected in all, when known. */
  total?: number;
  /** Milliseconds since the transfer started. */
  elapsedMs: number;
  /** Mean rate since the start, bytes per second. */
  bytesPerSecond: number;
  /** True for the last report of a transfer (it ended, or failed). */
  done: boolean;
}

/** Where reports go. */
export type ProgressSink = (report: ProgressReport) => void;

/** Options of {@linkcode TransferProgress}. */
export interface TransferProgressOptions {
  label: string;
  total?: number;
  /** Least time between two reports (default 5 s; a terminal line uses ~250 ms). */
  intervalMs?: number;
  /** Called with every chunk's byte count as it moves (e.g. a metrics counter); a retry's re-sent bytes are not. */
  onBytes?: (bytes: number) => void;
  /** Clock, for tests. */
  now?: () => number;
}

/** Counts one transfer and reports it to a sink at most every `intervalMs`, and once at the end. */
export class TransferProgress {
  readonly label: string;
  #sink: ProgressSink;
  #total?: number;
  #intervalMs: number;
  #onBytes?: (bytes: number) => void;
  #now: () => number;
  #start: number;
  #lastReport: number;
  #bytes = 0;
  // The most bytes any attempt reached: onBytes gets only what goes beyond it, so a retry is not counted twice.
  #counted = 0;
  #done = false;

  constructor(sink: ProgressSink, options: TransferProgressOptions) {
    this.label = options.label;
    this.#sink = sink;
    this.#total = options.total;
    this.#intervalMs = options.intervalMs ?? 5000;
    this.#onBytes = options.onBytes;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#lastReport = this.#start;
  }

  /** Bytes counted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The expected total, when known. */
  get total(): number | undefined {
    return this.#total;
  }

  /** Sets (or corrects) the expected total. */
  set total(total: number | undefined) {
    this.#total = total;
  }

  /** Counts `n` bytes that just moved; reports when the interval has passed. */
  add(n: number): void {
    if (n <= 0 || this.#done) return;
    this.#bytes += n;
    if (this.#bytes > this.#counted) {
      this.#onBytes?.(this.#bytes - this.#counted);
      this.#counted = this.#bytes;
    }
    const now = this.#now();
    if (now - this.#lastReport >= this.#intervalMs) {
      this.#lastReport = now;
      this.#sink(this.#report(now, false));
    }
  }

  /**
   * Forgets bytes counted by an attempt that is being retried from the start. `onBytes` keeps them: it is given only
   * the bytes beyond the most an earlier attempt reached, so its sum is the transfer's size, not the bytes re-sent.
   */
  restart(): void {
    this.#bytes = 0;
  }

  /** Ends the transfer: one last report. Later calls do nothing. */
  done(): void {
    if (this.#done) return;
    this.#done = true;
    this.#sink(this.#report(this.#now(), true));
  }

  #report(now: number, done: boolean): ProgressReport {
    const elapsedMs = Math.max(0, now - this.#start);
    return {
      label: this.label,
      bytes: this.#bytes,
      total: this.#total,
      elapsedMs,
      bytesPerSecond: elapsedMs > 0 ? this.#bytes / (elapsedMs / 1000) : 0,
      done,
    };
  }
}

/** `1.5 GiB`, `12.0 MiB`, `512 B`: binary units, as operators read disk and transfer sizes. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `120.0 MiB of 400.0 MiB (30%), 12.0 MiB/s`. */
export function describeProgress(report: ProgressReport): string {
  const of = report.total !== undefined && report.total > 0
    ? ` of ${formatBytes(report.total)} (${Math.min(100, Math.floor((report.bytes / report.total) * 100))}%)`
    : "";
  return `${formatBytes(report.bytes)}${of}, ${formatBytes(Math.round(report.bytesPerSecond))}/s`;
}

/** A sink that logs a progress line at info level (the final one says the transfer ended). */
export function logProgressSink(logger: Logger, fields: Record<string, unknown> = {}): ProgressSink {
  return (r) => {
    if (r.done) return; // the caller logs the outcome with its own message
    logger.info(`${r.label}: ${describeProgress(r)}`, {
      ...fields,
      bytes: r.bytes,
      ...(r.total !== undefined ? { total_bytes: r.total } : {}),
    });
  };
}

/** A sink that rewrites one terminal line (`\r…`) and ends it with a newline when the transfer is done. */
export function terminalProgressSink(write: (text: string) => void): ProgressSink {
  let width = 0;
  return (r) => {
    const line = `${r.label}: ${describeProgress(r)}`;
    const pad = " ".repeat(Math.max(0, width - line.length));
    width = line.length;
    write(`\r${line}${pad}${r.done ? "\n" : ""}`);
  };
}

/** A sink that passes a report on at most every `intervalMs` (and always the last one). */
export function throttledSink(sink: ProgressSink, intervalMs: number, now = () => performance.now()): ProgressSink {
  let last = -Infinity;
  return (r) => {
    const t = now();
    if (!r.done && t - last < intervalMs) return;
    last = t;
    sink(r);
  };
}

/** A sink that gives every report to each of `sinks`. */
export function fanOutSink(...sinks: (ProgressSink | undefined)[]): ProgressSink {
  const all = sinks.filter((s) => s !== undefined);
  return (r) => {
    for (const s of all) s(r);
  };
}

/**
 * Whether the agent draws progress as a rewritten line (transfers, image pulls): pretty logs, which are for people, on
 * a terminal. JSON lines stay JSON lines, even on a terminal.
 */
export function drawsProgress(logFormat: string): boolean {
  return logFormat === "pretty" && Deno.stderr.isTerminal();
}
