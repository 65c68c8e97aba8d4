/**
 * Live job output on `jobs.logs.<job_id>` (docs/bus.md): a running job's stdout/stderr lines, redacted, batched into
 * JSON messages `{job_id, attempt, seq, stream, data, timestamp}` at a bounded rate, and capped per job
 * (`JOB_LOG_STREAM_MAX_BYTES`) with a final `truncated` marker. Best effort: core NATS, never journaled; a line that
 * cannot be published is dropped, never waited for, and the job is never slowed by its followers.
 */
import { jobLogSubject } from "./subjects.ts";

/** Which stream a line came from. */
export type OutputStream = "stdout" | "stderr";

/** One message on {@linkcode jobLogSubject}. */
export interface JobLogMessage {
  job_id: string;
  attempt: number;
  /** 0, 1, 2… per job attempt, in publish order. */
  seq: number;
  stream: OutputStream;
  /** Whole lines, each ending with `\n`. */
  data: string;
  timestamp: string;
  /** On the last message of a capped stream. */
  truncated?: true;
  /** With `truncated`: output bytes not published. */
  dropped_bytes?: number;
}

/** Options of {@linkcode JobLogPublisher}. */
export interface JobLogOptions {
  /** Output published per job attempt; 0 publishes nothing. */
  maxBytes: number;
  /** Least time between two batches of a job (default 500 ms: at most two messages a second per stream). */
  flushIntervalMs?: number;
  /** A batch reaching this many bytes goes at once (default 64 KiB, well under NATS's 1 MiB max payload). */
  maxMessageBytes?: number;
  /** Hides secrets in a line (the logger's redactor). */
  redact?: (text: string) => string;
  /** Called when a publish throws (a closed connection); the line is dropped. */
  onError?: (error: unknown) => void;
}

/** Sends bytes on a subject (the bus connection's core publish). */
export type Publish = (subject: string, data: Uint8Array) => void;

/** Opens one live stream per job attempt. */
export class JobLogPublisher {
  #publish: Publish;
  #opts: JobLogOptions;

  constructor(publish: Publish, options: JobLogOptions) {
    this.#publish = publish;
    this.#opts = options;
  }

  /** The stream of one attempt; `close()` it when the container ended. */
  open(jobId: string, attempt: number): JobLogStream {
    return new JobLogStream(jobId, attempt, this.#publish, this.#opts);
  }
}

/** One attempt's live output: `line()` for each line as it comes, `close()` at the end. */
export class JobLogStream {
  #jobId: string;
  #attempt: number;
  #subject: string;
  #publish: Publish;
  #opts: Required<Omit<JobLogOptions, "redact" | "onError">> & Pick<JobLogOptions, "redact" | "onError">;
  #pending: Record<OutputStream, string[]> = { stdout: [], stderr: [] };
  #pendingBytes = 0;
  #sentBytes = 0;
  #dropped = 0;
  #seq = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #lastFlush = 0;
  #closed = false;
  #encoder = new TextEncoder();

  constructor(jobId: string, attempt: number, publish: Publish, options: JobLogOptions) {
    this.#jobId = jobId;
    this.#attempt = attempt;
    this.#subject = jobLogSubject(jobId);
    this.#publish = publish;
    this.#opts = { flushIntervalMs: 500, maxMessageBytes: 64 * 1024, ...options };
  }

  /** Messages published so far. */
  get published(): number {
    return this.#seq;
  }

  /** Queues one output line (without its newline). */
  line(stream: OutputStream, text: string): void {
    if (this.#closed) return;
    const redacted = this.#opts.redact ? this.#opts.redact(text) : text;
    const line = `${redacted}\n`;
    const size = this.#encoder.encode(line).length;
    if (this.#dropped > 0 || this.#sentBytes + this.#pendingBytes + size > this.#opts.maxBytes) {
      this.#dropped += size;
      return;
    }
    this.#pending[stream].push(line);
    this.#pendingBytes += size;
    if (this.#pendingBytes >= this.#opts.maxMessageBytes) return this.#flush();
    this.#timer ??= setTimeout(
      () => this.#flush(),
      Math.max(0, this.#lastFlush + this.#opts.flushIntervalMs - Date.now()),
    );
  }

  /** Publishes what is queued and, when output was cut, the `truncated` marker; later lines are ignored. */
  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    if (this.#dropped > 0) {
      this.#send({ stream: "stderr", data: "", truncated: true, dropped_bytes: this.#dropped });
    }
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lastFlush = Date.now();
    for (const stream of ["stdout", "stderr"] as const) {
      const lines = this.#pending[stream];
      if (lines.length === 0) continue;
      this.#pending[stream] = [];
      this.#send({ stream, data: lines.join("") });
    }
    this.#sentBytes += this.#pendingBytes;
    this.#pendingBytes = 0;
  }

  #send(fields: Pick<JobLogMessage, "stream" | "data" | "truncated" | "dropped_bytes">): void {
    const msg: JobLogMessage = {
      job_id: this.#jobId,
      attempt: this.#attempt,
      seq: this.#seq++,
      ...fields,
      timestamp: new Date().toISOString(),
    };
    try {
      this.#publish(this.#subject, this.#encoder.encode(JSON.stringify(msg)));
    } catch (error) {
      this.#opts.onError?.(error);
    }
  }
}
