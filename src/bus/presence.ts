/** Presence: a small JSON beacon every `intervalMs` on `agent.heartbeat.<address>` — cheap liveness between chain heartbeats. */
import type { Logger } from "../log/mod.ts";
import type { BusConnection } from "./connection.ts";

/** Publishes `provide()` every `intervalMs` (first one immediately) while the connection is up. */
export class Presence {
  #conn: BusConnection;
  #subject: string;
  #intervalMs: number;
  #provide: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  #logger: Logger;
  #timer?: ReturnType<typeof setInterval>;

  constructor(
    conn: BusConnection,
    logger: Logger,
    options: {
      subject: string;
      intervalMs: number;
      provide: () => Promise<Record<string, unknown>> | Record<string, unknown>;
    },
  ) {
    this.#conn = conn;
    this.#logger = logger;
    this.#subject = options.subject;
    this.#intervalMs = options.intervalMs;
    this.#provide = options.provide;
  }

  /** Starts beaconing. */
  start(): void {
    if (this.#timer !== undefined || this.#intervalMs <= 0) return;
    this.#timer = setInterval(() => void this.beat(), this.#intervalMs);
    void this.beat();
  }

  /** Publishes one beacon now (skipped while disconnected: a stale beacon has no value). */
  async beat(): Promise<void> {
    if (!this.#conn.connected) return;
    try {
      const body = await this.#provide();
      this.#conn.nc.publish(this.#subject, JSON.stringify(body));
    } catch (error) {
      this.#logger.warn("Presence beacon failed", { error: error as Error });
    }
  }

  /** Stops beaconing. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
