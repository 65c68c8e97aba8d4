/**
 * The status outbox: the journal's unsent statuses, published in order through a {@linkcode StatusSink} whenever
 * there is something to send and the sink is connected. A status is marked sent only once the sink says it is
 * durable (core NATS: flushed; JetStream: acknowledged by the status stream, deduplicated by its msg id).
 */
import type { Logger } from "../log/mod.ts";
import { backoffDelay } from "../timers.ts";
import type { JobJournal, OutboxEntry } from "./journal.ts";
import { type StatusMessage, statusMsgId } from "./status.ts";

/** Where statuses go: the bus implements it; tests use a small fake. */
export interface StatusSink {
  /** Whether publishing can work now. */
  readonly connected: boolean;
  /** Publishes one status; resolves once it is durable, rejects when it may not be. */
  publish(entry: OutboxEntry): Promise<void>;
  /** Calls `listener` when the connection comes back; returns a function that removes it. */
  onReconnect(listener: () => void): () => void;
}

/** Drains the journal's outbox through a sink. */
export class Outbox {
  #journal: JobJournal;
  #sink: StatusSink;
  #logger: Logger;
  #onSent?: (entry: OutboxEntry) => void;
  #running?: Promise<void>;
  #again = false;
  #retryTimer?: ReturnType<typeof setTimeout>;
  #failures = 0;
  #stopped = false;
  #unlisten: () => void;
  #idle: (() => void)[] = [];

  constructor(journal: JobJournal, sink: StatusSink, logger: Logger, onSent?: (entry: OutboxEntry) => void) {
    this.#journal = journal;
    this.#sink = sink;
    this.#logger = logger.child({ part: "outbox" });
    this.#onSent = onSent;
    this.#unlisten = sink.onReconnect(() => this.kick());
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
      } else if (this.#pending() === 0) {
        for (const r of this.#idle.splice(0)) r();
      }
    });
  }

  /** Resolves once the outbox is empty, or after `timeoutMs`; returns whether it emptied. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.#pending() === 0 && !this.#running) return true;
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

  #pending(): number {
    try {
      return this.#journal.unsentCount();
    } catch {
      return 0; // a closed journal has nothing more to send from here
    }
  }

  async #drain(): Promise<void> {
    while (!this.#stopped) {
      if (!this.#sink.connected) return; // the reconnect listener kicks again
      const batch = this.#journal.unsent(50);
      if (batch.length === 0) return;
      for (const entry of batch) {
        if (this.#stopped) return;
        try {
          await this.#sink.publish(entry);
        } catch (error) {
          this.#failures++;
          const delay = backoffDelay(this.#failures, 100, 5000);
          const level = this.#failures === 1 || this.#failures % 20 === 0 ? "warn" : "debug";
          this.#logger.log(level, "Status publish failed; will retry", {
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
        this.#onSent?.(entry);
      }
    }
  }
}

/** An outbox entry for a status sent without the journal (it could not be written: disk full); it has no sequence. */
export function unjournaledEntry(status: StatusMessage): OutboxEntry {
  return {
    seq: -1,
    jobId: status.job_id,
    status: status.status,
    msgId: statusMsgId(status.job_id, status.attempt, status.status, status.stage),
    payload: status,
    createdAt: Date.now(),
  };
}
