/** Core-NATS intake (the seed's behaviour, at-most-once): plain subscriptions on the dispatch and cancel subjects. */
import type { Subscription } from "@nats-io/nats-core";
import { type Delivery, onceDelivery } from "../job/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { BusConnection } from "./connection.ts";

/** Subscribes `subjects` and hands every message to `handle`; `close()` unsubscribes. */
export class CoreSubscriber {
  #subs: Subscription[] = [];

  constructor(conn: BusConnection, subjects: string[], logger: Logger, handle: (d: Delivery) => void) {
    for (const subject of subjects) {
      this.#subs.push(conn.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            logger.warn("Subscription error", { subject, error: err });
            return;
          }
          try {
            handle(onceDelivery(msg.subject, msg.data));
          } catch (error) {
            logger.error("Message handler failed", { subject, error });
          }
        },
      }));
    }
  }

  /** Unsubscribes. */
  close(): void {
    for (const s of this.#subs.splice(0)) s.unsubscribe();
  }
}
