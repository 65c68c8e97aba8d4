/**
 * JetStream intake: pulls from the agent's durable consumers (one per dispatch subject spelling) only as many messages
 * as the runner has free slots, so a busy agent leaves jobs in the stream (where this agent takes them later).
 */
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import type { Delivery } from "../job/mod.ts";
import type { Logger } from "../log/mod.ts";
import { backoffDelay } from "../timers.ts";
import type { BusConnection } from "./connection.ts";
import { ensureConsumers, ensureJobStream, ensureStatusStream, type JetStreamSettings } from "./jetstream_setup.ts";

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

/** The pull loops. `wake()` after a slot frees; `stop()` ends them (messages in hand stay with their handlers). */
export class JetStreamIntake {
  #conn: BusConnection;
  #logger: Logger;
  #opts: JetStreamIntakeOptions;
  #stop = new AbortController();
  #wakers = new Set<() => void>();
  #loops: Promise<void>[] = [];
  // Open pull requests: stopping ends them at once instead of waiting for them to expire.
  #batches = new Set<{ stop(): void }>();

  constructor(conn: BusConnection, logger: Logger, options: JetStreamIntakeOptions) {
    this.#conn = conn;
    this.#logger = logger.child({ part: "jetstream" });
    this.#opts = options;
  }

  /** Ensures streams (when allowed) and the consumers, then starts pulling. Throws when setup fails. */
  async start(): Promise<void> {
    const jsm = await this.#conn.jetstreamManager();
    await ensureJobStream(jsm, this.#opts.settings);
    await ensureStatusStream(jsm, this.#opts.settings, this.#opts.statusSubject);
    await ensureConsumers(jsm, this.#opts.settings);
    this.#loops = this.#opts.settings.consumers.map((c) => this.#run(c.durable));
  }

  /** Re-checks capacity now (a slot freed). */
  wake(): void {
    for (const w of [...this.#wakers]) w();
  }

  /** Stops pulling and waits for the current pulls to end. */
  async stop(): Promise<void> {
    this.#stop.abort();
    for (const b of this.#batches) b.stop();
    this.wake();
    await Promise.all(this.#loops);
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }

  async #run(durable: string): Promise<void> {
    const { settings } = this.#opts;
    let consumer: Consumer | undefined;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      // Each consumer's loop asks for every free slot: two open pulls may bring two jobs for one slot, and the second
      // waits in the runner's queue (free slots count the queue). Splitting the slots instead starves one loop while
      // the other's empty pulls hold them.
      const want = this.#opts.capacity();
      if (want <= 0 || !this.#conn.connected) {
        await this.#sleep(want <= 0 ? 5000 : 250);
        continue;
      }
      try {
        consumer ??= await this.#conn.jetstream().consumers.get(settings.jobStream, durable);
        const batch = await consumer.fetch({ max_messages: want, expires: this.#opts.pullExpiresMs ?? 5000 });
        this.#batches.add(batch);
        try {
          if (this.#stop.signal.aborted) batch.stop();
          for await (const m of batch) {
            this.#opts.handle(jsDelivery(m, settings.maxDeliver));
            if (this.#stop.signal.aborted) break;
          }
        } finally {
          this.#batches.delete(batch);
        }
        failures = 0;
      } catch (error) {
        failures++;
        consumer = undefined;
        if (this.#stop.signal.aborted) break;
        const delay = backoffDelay(failures, 200, 5000);
        this.#logger.log(failures === 1 ? "warn" : "debug", "JetStream pull failed; retrying", {
          consumer: durable,
          error: error as Error,
          retry_ms: delay,
        });
        await this.#sleep(delay);
      }
    }
  }
}

/** A JetStream message as a {@linkcode Delivery}: `final` on the delivery `MaxDeliver` allows last. */
export function jsDelivery(
  m: Pick<JsMsg, "subject" | "data" | "info" | "ack" | "term" | "nak" | "working">,
  maxDeliver: number,
): Delivery {
  const safe = (f: () => void) => {
    try {
      f();
    } catch { /* connection gone: the server redelivers after AckWait, and the journal deduplicates */ }
  };
  const deliveryCount = m.info.deliveryCount;
  return {
    subject: m.subject,
    data: m.data,
    deliveryCount,
    redeliverable: true,
    final: maxDeliver > 0 && deliveryCount >= maxDeliver,
    ack: () => safe(() => m.ack()),
    term: (reason) => safe(() => m.term(reason)),
    nak: (delay) => safe(() => m.nak(delay)),
    working: () => safe(() => m.working()),
  };
}
