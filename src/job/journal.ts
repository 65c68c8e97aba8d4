/**
 * The job journal: one row per job id and an ordered status outbox, in SQLite (`node:sqlite`) at
 * `DATA_DIR/journal.db`. Every state is written (synchronously, `synchronous=FULL`) before the side effect it announces.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { statementCache } from "../sqlite_statements.ts";
import { dirname } from "node:path";
import { JournalError } from "./errors.ts";
import type { FailureReason, Job, JobState, WireStatus } from "./types.ts";
import { isTerminal } from "./types.ts";
import type { StatusMessage } from "./status.ts";
import { statusMsgId } from "./status.ts";

/** One job as the journal knows it. */
export interface JobRecord {
  jobId: string;
  state: JobState;
  attempt: number;
  deliveries: number;
  job?: Job;
  receivedAt: number;
  startedAt?: number;
  finishedAt?: number;
  reason?: FailureReason;
  message?: string;
  exitCode?: number;
  outputCid?: string;
  gpuUuids: string[];
  /** The terminal status as first published; re-published for late duplicates. */
  finalStatus?: StatusMessage;
}

/** One status waiting in (or sent from) the outbox. */
export interface OutboxEntry {
  seq: number;
  jobId: string;
  status: WireStatus;
  msgId: string;
  payload: StatusMessage;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  job_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  deliveries INTEGER NOT NULL DEFAULT 1,
  job_json TEXT,
  received_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  updated_at INTEGER NOT NULL,
  reason TEXT,
  message TEXT,
  exit_code INTEGER,
  output_cid TEXT,
  gpu_uuids TEXT NOT NULL DEFAULT '[]',
  final_status TEXT
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(state) WHERE state NOT IN ('completed', 'failed');
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  status TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  sent_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox(seq) WHERE sent_at IS NULL;
`;

type Row = Record<string, unknown>;

/** How long a sent mark may stay in memory before it is written (see {@linkcode JobJournal.markSent}). */
export const SENT_MARK_DELAY_MS = 1000;

/** The journal; open with {@linkcode JobJournal.open}, close with `close()` or `using`. */
export class JobJournal implements Disposable {
  #db: DatabaseSync;
  #stmt: (sql: string) => StatementSync;
  /** Outbox entries up to this seq are published; up to `#marked` that is written. */
  #sentThrough = 0;
  #marked = 0;
  #markTimer?: ReturnType<typeof setTimeout>;
  #now: () => number;
  #open = true;

  private constructor(db: DatabaseSync, now: () => number) {
    this.#db = db;
    this.#stmt = statementCache(db);
    this.#now = now;
  }

  /** Opens (creating if needed) the journal database at `path` (`:memory:` for tests of logic). */
  static open(path: string, options: { now?: () => number } = {}): JobJournal {
    try {
      if (path !== ":memory:") Deno.mkdirSync(dirname(path), { recursive: true });
      const db = new DatabaseSync(path);
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
      db.exec(SCHEMA);
      return new JobJournal(db, options.now ?? Date.now);
    } catch (cause) {
      throw new JournalError(`Cannot open job journal at ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * Opens an existing journal for reading only (`jobs`, `jobs show`: while the agent runs, beside it). Throws
   * {@linkcode JournalError} when there is none at `path`.
   */
  static openReadOnly(path: string, options: { now?: () => number } = {}): JobJournal {
    try {
      Deno.statSync(path);
    } catch (cause) {
      throw new JournalError(`No job journal at ${path}: has the agent run with this DATA_DIR?`, { cause });
    }
    try {
      // `readOnly` is in Deno's node:sqlite, not yet in the @types/node it checks against.
      const db = new DatabaseSync(path, { readOnly: true } as ConstructorParameters<typeof DatabaseSync>[1]);
      db.exec("PRAGMA busy_timeout=5000;");
      return new JobJournal(db, options.now ?? Date.now);
    } catch (cause) {
      throw new JournalError(`Cannot open job journal at ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  /** The journal path for a data directory. */
  static pathIn(dataDir: string): string {
    return `${dataDir.replace(/\/+$/, "")}/journal.db`;
  }

  /** The job with this id, if the journal has seen it. */
  get(jobId: string): JobRecord | undefined {
    const row = this.#stmt("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Records the first delivery of a job (state `received`); throws when the id exists. */
  insertReceived(jobId: string, job: Job | undefined): void {
    const now = this.#now();
    this.#run(
      "INSERT INTO jobs (job_id, state, job_json, received_at, updated_at) VALUES (?, 'received', ?, ?, ?)",
      jobId,
      job ? JSON.stringify(job) : null,
      now,
      now,
    );
  }

  /** Counts another delivery of a known job. */
  countDelivery(jobId: string): void {
    this.#run("UPDATE jobs SET deliveries = deliveries + 1, updated_at = ? WHERE job_id = ?", this.#now(), jobId);
  }

  /**
   * Marks a job validated for a new attempt and queues its `processing` status, in one commit; records the job first
   * when it is new. Returns the attempt number.
   */
  accept(jobId: string, job: Job, processing: (attempt: number) => StatusMessage): number {
    return this.#tx(() => {
      if (!this.get(jobId)) this.insertReceived(jobId, job);
      const rec = this.#mustGet(jobId);
      const attempt = rec.attempt + 1;
      this.#run(
        "UPDATE jobs SET state = 'validated', attempt = ?, job_json = ?, updated_at = ? WHERE job_id = ?",
        attempt,
        JSON.stringify(job),
        this.#now(),
        jobId,
      );
      this.#append(processing(attempt));
      return attempt;
    });
  }

  /** Records that an attempt got its resources and is starting. */
  markStarted(jobId: string, gpuUuids: string[]): void {
    const now = this.#now();
    this.#run(
      "UPDATE jobs SET started_at = ?, gpu_uuids = ?, updated_at = ? WHERE job_id = ?",
      now,
      JSON.stringify(gpuUuids),
      now,
      jobId,
    );
  }

  /**
   * Moves a job to a non-terminal stage and queues the statuses that announce it (several stages entered at once give
   * one status each, the job is left in the last), in one commit.
   */
  setState(jobId: string, state: Exclude<JobState, "completed" | "failed">, ...statuses: StatusMessage[]): void {
    const update = () =>
      this.#run("UPDATE jobs SET state = ?, updated_at = ? WHERE job_id = ?", state, this.#now(), jobId);
    if (statuses.length === 0) return void update();
    this.#tx(() => {
      update();
      for (const status of statuses) this.#append(status);
    });
  }

  /** Records the terminal state and queues the final status, atomically. Creates the row when it is missing. */
  finish(jobId: string, status: StatusMessage): void {
    if (status.status === "processing") throw new JournalError("A final status must be completed or failed");
    this.#tx(() => {
      const now = this.#now();
      if (!this.get(jobId)) {
        this.#run(
          "INSERT INTO jobs (job_id, state, received_at, updated_at) VALUES (?, 'received', ?, ?)",
          jobId,
          now,
          now,
        );
      }
      this.#run(
        `UPDATE jobs SET state = ?, finished_at = ?, updated_at = ?, reason = ?, message = ?, exit_code = ?,
         output_cid = ?, final_status = ? WHERE job_id = ?`,
        status.status,
        now,
        now,
        status.reason ?? null,
        status.message ?? null,
        status.exit_code ?? null,
        status.output_cid || null,
        JSON.stringify(status),
        jobId,
      );
      this.#append(status);
    });
  }

  /** Queues a status that changes no job row (e.g. "agent busy", which must not stop a later retry). */
  enqueueStatus(status: StatusMessage): void {
    this.#append(status);
  }

  /** Queues the recorded final status of a finished job again; returns false when the job is not finished. */
  republishFinal(jobId: string): boolean {
    const rec = this.get(jobId);
    if (!rec || !isTerminal(rec.state) || !rec.finalStatus) return false;
    this.#append(rec.finalStatus);
    return true;
  }

  /** The most recently received jobs, newest first. */
  recent(limit = 20): JobRecord[] {
    const rows = this.#stmt("SELECT * FROM jobs ORDER BY received_at DESC, job_id LIMIT ?").all(limit) as Row[];
    return rows.map(toRecord);
  }

  /** Every status of a job still in the outbox (sent or not), in order: its timeline. */
  statusesOf(jobId: string): (OutboxEntry & { sentAt?: number })[] {
    const rows = this.#stmt("SELECT * FROM outbox WHERE job_id = ? ORDER BY seq").all(jobId) as Row[];
    return rows.map((r) => ({
      ...outboxEntry(r),
      ...(r.sent_at === null || r.sent_at === undefined ? {} : { sentAt: Number(r.sent_at) }),
    }));
  }

  /** Unsent statuses, oldest first. */
  unsent(limit = 100): OutboxEntry[] {
    const rows = this.#stmt("SELECT * FROM outbox WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?").all(
      this.#sentThrough,
      limit,
    ) as Row[];
    return rows.map(outboxEntry);
  }

  /** Number of statuses not yet acknowledged. */
  unsentCount(): number {
    const row = this.#stmt("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND seq > ?").get(
      this.#sentThrough,
    ) as Row;
    return Number(row.n);
  }

  /**
   * Marks the outbox entries up to `seq` as delivered (the outbox publishes in order and stops at the first failure,
   * so every earlier one was). The mark is kept in memory at once and written within `SENT_MARK_DELAY_MS`, one write
   * for all the statuses sent meanwhile instead of a synchronous commit each: a crash in between publishes those
   * statuses again at the next start, which JetStream deduplicates by `Nats-Msg-Id` and core consumers key by
   * `(job_id, attempt, status)` (docs/bus.md).
   */
  markSent(seq: number): void {
    if (seq <= this.#sentThrough) return;
    this.#sentThrough = seq;
    this.#markTimer ??= setTimeout(() => {
      try {
        this.flushSentMarks();
      } catch {
        // A full or failing disk: the marks stay pending for the next try; at worst the statuses go out again.
      }
    }, SENT_MARK_DELAY_MS);
    Deno.unrefTimer(this.#markTimer);
  }

  /** Writes the pending sent marks now (`close()` does). */
  flushSentMarks(): void {
    clearTimeout(this.#markTimer);
    this.#markTimer = undefined;
    if (!this.#open || this.#sentThrough <= this.#marked) return;
    this.#run("UPDATE outbox SET sent_at = ? WHERE sent_at IS NULL AND seq <= ?", this.#now(), this.#sentThrough);
    this.#marked = this.#sentThrough;
  }

  /** Jobs not in a terminal state, oldest first (crash recovery reads this at start-up). */
  listUnfinished(): JobRecord[] {
    const rows = this.#stmt(
      "SELECT * FROM jobs WHERE state NOT IN ('completed', 'failed') ORDER BY received_at, job_id",
    ).all() as Row[];
    return rows.map(toRecord);
  }

  /** Deletes sent outbox entries and finished jobs older than `olderThanMs` (job rows keep duplicates idempotent). */
  prune(olderThanMs: number): { jobs: number; statuses: number } {
    const cutoff = this.#now() - olderThanMs;
    return this.#tx(() => {
      const s = this.#run("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", cutoff);
      const j = this.#run("DELETE FROM jobs WHERE state IN ('completed', 'failed') AND finished_at < ?", cutoff);
      return { jobs: Number(j.changes), statuses: Number(s.changes) };
    });
  }

  /** Closes the database. */
  close(): void {
    try {
      this.flushSentMarks();
    } catch { /* a full or failing disk: the statuses are published again at the next start */ }
    if (this.#open) this.#db.close();
    this.#open = false;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #append(status: StatusMessage): void {
    this.#run(
      "INSERT INTO outbox (job_id, status, msg_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
      status.job_id,
      status.status,
      statusMsgId(status.job_id, status.attempt, status.status, status.stage),
      JSON.stringify(status),
      this.#now(),
    );
  }

  #mustGet(jobId: string): JobRecord {
    const rec = this.get(jobId);
    if (!rec) throw new JournalError(`Job ${jobId} is not in the journal`);
    return rec;
  }

  #run(sql: string, ...params: (string | number | null)[]) {
    try {
      return this.#stmt(sql).run(...params);
    } catch (cause) {
      throw new JournalError(`Job journal write failed: ${(cause as Error).message}`, { cause });
    }
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // SQLite rolled it back by itself (a full disk does): the original error is the one to report.
      }
      throw error;
    }
  }
}

function outboxEntry(r: Row): OutboxEntry {
  return {
    seq: Number(r.seq),
    jobId: String(r.job_id),
    status: String(r.status) as WireStatus,
    msgId: String(r.msg_id),
    payload: JSON.parse(String(r.payload)),
    createdAt: Number(r.created_at),
  };
}

function toRecord(r: Row): JobRecord {
  const opt = <T>(
    v: unknown,
    f: (x: unknown) => T,
  ): T | undefined => (v === null || v === undefined ? undefined : f(v));
  return {
    jobId: String(r.job_id),
    state: String(r.state) as JobState,
    attempt: Number(r.attempt),
    deliveries: Number(r.deliveries),
    job: opt(r.job_json, (v) => JSON.parse(String(v)) as Job),
    receivedAt: Number(r.received_at),
    startedAt: opt(r.started_at, Number),
    finishedAt: opt(r.finished_at, Number),
    reason: opt(r.reason, (v) => String(v) as FailureReason),
    message: opt(r.message, String),
    exitCode: opt(r.exit_code, Number),
    outputCid: opt(r.output_cid, String),
    gpuUuids: JSON.parse(String(r.gpu_uuids ?? "[]")),
    finalStatus: opt(r.final_status, (v) => JSON.parse(String(v)) as StatusMessage),
  };
}
