/**
 * Statuses onto NATS (the job outbox's sink). Core mode: publish + flush (sent once the server has it). JetStream
 * mode: `Nats-Msg-Id` = `<job_id>:<attempt>:<status>`, acknowledged by the status stream, so a status lands there
 * exactly once even when a publish is retried.
 */
import type { OutboxEntry, StatusSink } from "../job/mod.ts";
import { abortable, timeoutSignal } from "../timers.ts";
import type { BusConnection } from "./connection.ts";

/** Options of {@linkcode NatsStatusSink}. */
export interface NatsStatusSinkOptions {
  subject: string;
  jetstream: boolean;
  /** Per-publish timeout; default 5 s. */
  timeoutMs?: number;
}

/** The bus's {@linkcode StatusSink}. */
export class NatsStatusSink implements StatusSink {
  #conn: BusConnection;
  #opts: NatsStatusSinkOptions;

  constructor(conn: BusConnection, options: NatsStatusSinkOptions) {
    this.#conn = conn;
    this.#opts = options;
  }

  get connected(): boolean {
    return this.#conn.connected;
  }

  onReconnect(listener: () => void): () => void {
    return this.#conn.onEvent((e) => {
      if (e.type === "reconnected") listener();
    });
  }

  async publish(entry: OutboxEntry): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify(entry.payload));
    const timeout = this.#opts.timeoutMs ?? 5000;
    if (this.#opts.jetstream) {
      await this.#conn.jetstream().publish(this.#opts.subject, data, { msgID: entry.msgId, timeout });
      return;
    }
    this.#conn.nc.publish(this.#opts.subject, data);
    await abortable(this.#conn.nc.flush(), timeoutSignal(timeout));
  }
}
