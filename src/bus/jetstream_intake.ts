/**
 * JetStream intake: pulls from the agent's durable consumer only as many messages as there are free slots, so a
 * busy agent leaves jobs in the stream (where another agent, or this one later, takes them).
 */
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../log/mod.ts";
import type { BusConnection } from "./connection.ts";
import type { Delivery } from "./delivery.ts";
import { ensureConsumer, ensureJobStream, ensureStatusStream, type JetStreamSettings } from "./jetstream_setup.ts";

/** Options for {@linkcode JetStreamIntake}. */
export interface JetStreamIntakeOptions {
  settings: JetStreamSettings;
  statusSubject: string;
  /** How many messages may be pulled now. */
  capacity: () => number;
  handle: (d: Delivery) => void;
  /** How long one pull request waits for messages; default 5 s. */
  pullExpiresMs?: number;
}

/** The pull loop. `wake()` after a slot frees; `stop()` ends the loop (messages in hand stay with their handlers). */
export class JetStreamIntake {
  #conn: BusConnection;
  #logger: Logger;
  #opts: JetStreamIntakeOptions;
  #stop = new AbortController();
  #wake?: () => void;
  #loop?: Promise<void>;

  constructor(conn: BusConnection, logger: Logger, options: JetStreamIntakeOptions) {
    this.#conn = conn;
    this.#logger = logger.child({ part: "jetstream" });
    this.#opts = options;
  }

  /** Ensures streams (when allowed) and the consumer, then starts pulling. Throws when setup fails. */
  async start(): Promise<void> {
    const jsm = await this.#conn.jetstreamManager();
    await ensureJobStream(jsm, this.#opts.settings);
    await ensureStatusStream(jsm, this.#opts.settings, this.#opts.statusSubject);
    await ensureConsumer(jsm, this.#opts.settings);
    this.#loop = this.#run();
  }

  /** Re-checks capacity now (a slot freed). */
  wake(): void {
    this.#wake?.();
  }

  /** Stops pulling and waits for the current pull to end. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    const { settings } = this.#opts;
    let consumer: Consumer | undefined;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      const want = this.#opts.capacity();
      if (want <= 0 || !this.#conn.connected) {
        await this.#sleep(want <= 0 ? 5000 : 250);
        continue;
      }
      try {
        consumer ??= await this.#conn.jetstream().consumers.get(settings.jobStream, settings.durable);
        const batch = await consumer.fetch({ max_messages: want, expires: this.#opts.pullExpiresMs ?? 5000 });
        for await (const m of batch) {
          this.#opts.handle(jsDelivery(m));
          if (this.#stop.signal.aborted) break;
        }
        failures = 0;
      } catch (error) {
        failures++;
        consumer = undefined;
        if (this.#stop.signal.aborted) break;
        const delay = Math.min(5000, 200 * 2 ** Math.min(failures, 5));
        this.#logger.log(failures === 1 ? "warn" : "debug", "JetStream pull failed; retrying", {
          error: error as Error,
          retry_ms: delay,
        });
        await this.#sleep(delay);
      }
    }
  }
}

function jsDelivery(m: JsMsg): Delivery {
  const safe = (f: () => void) => {
    try {
      f();
    } catch { /* connection gone: the server redelivers after AckWait, and the journal deduplicates */ }
  };
  return {
    subject: m.subject,
    data: m.data,
    deliveryCount: m.info.deliveryCount,
    ack: () => safe(() => m.ack()),
    term: (reason) => safe(() => m.term(reason)),
    nak: (delay) => safe(() => m.nak(delay)),
    working: () => safe(() => m.working()),
  };
}
