/**
 * Publishes the journal's status outbox in order. Core mode: publish + flush (a status is sent once the server
 * has it). JetStream mode: `Nats-Msg-Id` = `<job_id>:<attempt>:<status>`, retried until the status stream
 * acknowledges, so a status lands in the stream exactly once even when a publish is retried.
 */
import type { Logger } from "../log/mod.ts";
import type { JobJournal, OutboxEntry } from "../job/mod.ts";
import type { BusConnection } from "./connection.ts";

/** Options for {@linkcode StatusPublisher}. */
export interface StatusPublisherOptions {
  subject: string;
  jetstream: boolean;
  /** Called after an entry is durably published (JetStream ack, or core flush). */
  onSent?: (entry: OutboxEntry) => void;
  /** Per-publish timeout; default 5 s. */
  timeoutMs?: number;
}

/** Drains the outbox whenever there is something to send and the connection is up. */
export class StatusPublisher {
  #conn: BusConnection;
  #journal: JobJournal;
  #logger: Logger;
  #opts: StatusPublisherOptions;
  #running?: Promise<void>;
  #again = false;
  #retryTimer?: ReturnType<typeof setTimeout>;
  #failures = 0;
  #stopped = false;
  #unlisten: () => void;
  #idle: (() => void)[] = [];

  constructor(conn: BusConnection, journal: JobJournal, logger: Logger, options: StatusPublisherOptions) {
    this.#conn = conn;
    this.#journal = journal;
    this.#logger = logger.child({ component: "bus", part: "status" });
    this.#opts = options;
    this.#unlisten = conn.onEvent((e) => {
      if (e.type === "reconnected") this.kick();
    });
  }

  /** Asks for a drain soon (cheap to call after every journal write). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      } else if (this.#journal.unsentCount() === 0) {
        for (const r of this.#idle.splice(0)) r();
      }
    });
  }

  /** Resolves once the outbox is empty, or after `timeoutMs`; returns whether it emptied. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.#journal.unsentCount() === 0 && !this.#running) return true;
    this.kick();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = new Promise<boolean>((resolve) => {
      this.#idle.push(() => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops publishing; unsent statuses stay in the journal for the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten();
    clearTimeout(this.#retryTimer);
    await this.#running;
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      if (!this.#conn.connected) return; // the reconnect event kicks again
      const batch = this.#journal.unsent(50);
      if (batch.length === 0) return;
      for (const entry of batch) {
        if (this.#stopped) return;
        try {
          await this.#publish(entry);
        } catch (error) {
          this.#failures++;
          const delay = Math.min(5000, 100 * 2 ** Math.min(this.#failures, 6));
          const log = this.#failures === 1 || this.#failures % 20 === 0 ? "warn" : "debug";
          this.#logger.log(log, "Status publish failed; will retry", {
            job_id: entry.jobId,
            status: entry.status,
            failures: this.#failures,
            retry_ms: delay,
            error: error as Error,
          });
          clearTimeout(this.#retryTimer);
          this.#retryTimer = setTimeout(() => this.kick(), delay);
          return;
        }
        this.#failures = 0;
        this.#journal.markSent(entry.seq);
        this.#logger.debug("Status published", { job_id: entry.jobId, status: entry.status, msg_id: entry.msgId });
        this.#opts.onSent?.(entry);
      }
    }
  }

  async #publish(entry: OutboxEntry): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify(entry.payload));
    const timeout = this.#opts.timeoutMs ?? 5000;
    if (this.#opts.jetstream) {
      await this.#conn.jetstream().publish(this.#opts.subject, data, { msgID: entry.msgId, timeout });
      return;
    }
    this.#conn.nc.publish(this.#opts.subject, data);
    await withTimeout(this.#conn.nc.flush(), timeout, "NATS flush");
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
