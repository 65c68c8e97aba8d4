/** A small levelled, structured logger whose writers are swappable. */

/** Log levels, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Structured fields attached to a log record. */
export type LogFields = Record<string, unknown>;

/** One log record as handed to a writer. */
export interface LogRecord {
  time: Date;
  level: LogLevel;
  msg: string;
  fields: LogFields;
}

/** Where log records go. */
export interface LogWriter {
  write(record: LogRecord): void;
}

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  level?: LogLevel;
  writer?: LogWriter;
  fields?: LogFields;
  redactor?: Redactor;
}

/** What a secret is shown as, wherever it is hidden (log lines, printed config, error texts). */
export const REDACTED = "[REDACTED]";

/**
 * Replaces every registered secret value in strings with {@linkcode REDACTED}: the one redactor of the process.
 * Shared by a logger and all of its children, so a secret registered once is hidden everywhere.
 */
export class Redactor {
  #secrets = new Set<string>();
  /** Longest first, so a secret holding another (`user:pass`, `pass`) is hidden whole. */
  #ordered: string[] | undefined;

  /** Registers a secret; values shorter than 4 characters are ignored to avoid redacting noise. */
  add(secret: string | undefined): void {
    if (secret && secret.length >= 4) {
      this.#secrets.add(secret);
      // Hex keys also travel without (or with) their 0x prefix and in lower case.
      if (/^0x[0-9a-fA-F]+$/.test(secret)) this.#secrets.add(secret.slice(2));
      else if (/^[0-9a-fA-F]{64}$/.test(secret)) this.#secrets.add(`0x${secret}`);
      this.#ordered = undefined;
    }
  }

  /** Returns `text` with every secret replaced. */
  text(text: string): string {
    this.#ordered ??= [...this.#secrets].sort((a, b) => b.length - a.length);
    let out = text;
    for (const secret of this.#ordered) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
      const lower = secret.toLowerCase();
      if (lower !== secret && out.includes(lower)) out = out.split(lower).join(REDACTED);
    }
    return out;
  }

  /** Deeply redacts strings inside plain values. */
  value(value: unknown, depth = 0): unknown {
    if (this.#secrets.size === 0 || depth > 8) return value;
    if (typeof value === "string") return this.text(value);
    if (Array.isArray(value)) return value.map((v) => this.value(v, depth + 1));
    if (value && typeof value === "object" && value.constructor === Object) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.value(v, depth + 1);
      return out;
    }
    return value;
  }
}

/** A levelled logger with structured fields; `child()` adds fields such as component or job id. */
export class Logger {
  readonly level: LogLevel;
  readonly writer: LogWriter;
  readonly fields: LogFields;
  readonly redactor: Redactor;
  #min: number;

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "info";
    this.writer = options.writer ?? new JsonWriter();
    this.fields = options.fields ?? {};
    this.redactor = options.redactor ?? new Redactor();
    this.#min = LOG_LEVELS.indexOf(this.level);
  }

  /** Returns a logger that adds `fields` to every record. */
  child(fields: LogFields): Logger {
    return new Logger({
      level: this.level,
      writer: this.writer,
      fields: { ...this.fields, ...fields },
      redactor: this.redactor,
    });
  }

  /** Whether records at `level` are written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#min;
  }

  /** Logs at debug level. */
  debug(msg: string, fields?: LogFields): void {
    this.log("debug", msg, fields);
  }
  /** Logs at info level. */
  info(msg: string, fields?: LogFields): void {
    this.log("info", msg, fields);
  }
  /** Logs at warn level. */
  warn(msg: string, fields?: LogFields): void {
    this.log("warn", msg, fields);
  }
  /** Logs at error level. */
  error(msg: string, fields?: LogFields): void {
    this.log("error", msg, fields);
  }

  /** Logs one record at `level`; errors in fields are flattened to name, message and cause. */
  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const merged: LogFields = { ...this.fields };
    for (const [k, v] of Object.entries(fields ?? {})) merged[k] = v instanceof Error ? errorFields(v) : v;
    this.writer.write({
      time: new Date(),
      level,
      msg: this.redactor.text(msg),
      fields: this.redactor.value(merged) as LogFields,
    });
  }
}

/** Flattens an error (and its causes) into plain fields for a log record. */
export function errorFields(error: Error, depth = 0): LogFields {
  const out: LogFields = { name: error.name, message: error.message };
  if (error.cause instanceof Error && depth < 4) {
    const cause = errorFields(error.cause, depth + 1);
    // Wrappers often repeat their cause's sentence: say it once.
    if (typeof cause.message === "string" && cause.message !== "" && error.message.includes(cause.message)) {
      delete cause.message;
    }
    out.cause = cause;
  } else if (error.cause !== undefined) out.cause = String(error.cause);
  return out;
}

/** Writes one JSON object per line: `{"time","level","msg",...fields}`. */
export class JsonWriter implements LogWriter {
  #out: (line: string) => void;
  constructor(out: (line: string) => void = writeStderr) {
    this.#out = out;
  }
  write(record: LogRecord): void {
    this.#out(
      JSON.stringify(
        { time: record.time.toISOString(), level: record.level, msg: record.msg, ...record.fields },
        jsonSafe,
      ),
    );
  }
}

/** Fields a pretty line leaves out: the node's address is the same on every line (start-up prints it once). */
const PRETTY_OMIT = new Set(["address", "component"]);

/**
 * Writes human-readable lines: `12:00:00.000 INFO  [component] message key=value`. Empty values (undefined, null,
 * "", [] and {}) are left out, and so is the node's address, which every line of one process shares.
 */
export class PrettyWriter implements LogWriter {
  #out: (line: string) => void;
  constructor(out: (line: string) => void = writeStderr) {
    this.#out = out;
  }
  write(record: LogRecord): void {
    const time = record.time.toISOString().slice(11, 23);
    const fields = Object.entries(record.fields)
      .filter(([k, v]) => !PRETTY_OMIT.has(k) && !isEmpty(v))
      .map(([k, v]) => `${k}=${typeof v === "string" ? quoteIfSpaced(v) : JSON.stringify(v, jsonSafe)}`)
      .join(" ");
    const component = typeof record.fields.component === "string" ? `[${record.fields.component}] ` : "";
    this.#out(`${time} ${record.level.toUpperCase().padEnd(5)} ${component}${record.msg}${fields ? " " + fields : ""}`);
  }
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === "object" && v.constructor === Object && Object.keys(v).length === 0;
}

function quoteIfSpaced(v: string): string {
  return /[\s"]/.test(v) ? JSON.stringify(v) : v;
}

/** Keeps records in memory; for tests. */
export class MemoryWriter implements LogWriter {
  readonly records: LogRecord[] = [];
  write(record: LogRecord): void {
    this.records.push(record);
  }
  /** All records serialized as JSON lines, as the JSON writer would print them. */
  text(): string {
    const lines: string[] = [];
    const json = new JsonWriter((l) => lines.push(l));
    for (const r of this.records) json.write(r);
    return lines.join("\n");
  }
}

const encoder = new TextEncoder();
function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
