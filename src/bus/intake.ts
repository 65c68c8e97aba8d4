/**
 * The bus side of job intake: NATS subscriptions (core) or pull consumers (JetStream) that hand every dispatch and
 * cancel message to the job runner as a {@linkcode Delivery}. Transport only: what a message means is the runner's.
 */
import type { Delivery } from "../job/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { BusConnection } from "./connection.ts";
import { CoreSubscriber } from "./core_intake.ts";
import { JetStreamIntake } from "./jetstream_intake.ts";
import { cancelSubjects, dispatchSubjects, durableConsumers } from "./subjects.ts";

/** What the intake hands messages to (the job runner). */
export interface JobHandler {
  handle(delivery: Delivery): void;
  handleCancel(delivery: Delivery): void;
  /** How many jobs may be pulled now. */
  capacity(): number;
  /** Calls `listener` whenever a slot frees; returns a function that removes it. */
  onSlotFreed(listener: () => void): () => void;
}

/** JetStream intake settings (names, limits); the consumers come from the agent address. */
export interface IntakeJetStreamOptions {
  jobStream: string;
  statusStream: string;
  createStreams: boolean;
  replicas?: number;
  ackWaitMs: number;
  maxDeliver: number;
  /** Upper bound of unacknowledged jobs per consumer. */
  maxAckPending: number;
  /** Pull request lifetime; default 5 s. */
  pullExpiresMs?: number;
}

/** Options of {@linkcode BusIntake}. */
export interface BusIntakeOptions {
  agentAddress: string;
  mode: "core" | "jetstream";
  /** The status subject (the status stream captures it). */
  statusSubject: string;
  jetstream?: IntakeJetStreamOptions;
}

/** Subscriptions and pulls for one agent. `start()`, then `stop()` before the runner drains. */
export class BusIntake {
  #conn: BusConnection;
  #handler: JobHandler;
  #logger: Logger;
  #opts: BusIntakeOptions;
  #core: CoreSubscriber[] = [];
  #js?: JetStreamIntake;
  #unlisten?: () => void;

  constructor(conn: BusConnection, handler: JobHandler, logger: Logger, options: BusIntakeOptions) {
    if (options.mode === "jetstream" && !options.jetstream) throw new TypeError("JetStream intake needs options");
    this.#conn = conn;
    this.#handler = handler;
    this.#logger = logger.child({ component: "bus" });
    this.#opts = options;
  }

  /** Subscribes the cancel subjects and starts job intake; throws when JetStream setup fails. */
  async start(): Promise<void> {
    const { agentAddress } = this.#opts;
    const cancel = (d: Delivery) => this.#handler.handleCancel(d);
    const handle = (d: Delivery) => this.#handler.handle(d);
    this.#core.push(new CoreSubscriber(this.#conn, cancelSubjects(agentAddress), this.#logger, cancel));
    if (this.#opts.mode === "core") {
      this.#core.push(new CoreSubscriber(this.#conn, dispatchSubjects(agentAddress), this.#logger, handle));
    } else {
      const o = this.#opts.jetstream!;
      this.#js = new JetStreamIntake(this.#conn, this.#logger, {
        settings: { ...o, consumers: durableConsumers(agentAddress) },
        statusSubject: this.#opts.statusSubject,
        capacity: () => this.#handler.capacity(),
        handle,
        pullExpiresMs: o.pullExpiresMs,
      });
      await this.#js.start();
      this.#unlisten = this.#handler.onSlotFreed(() => this.#js?.wake());
    }
    await this.#conn.nc.flush();
    this.#logger.info("Job intake started", { intake: this.#opts.mode, subjects: dispatchSubjects(agentAddress) });
  }

  /** Stops taking messages (pulls in flight end; messages in hand stay with the runner). */
  async stop(): Promise<void> {
    for (const s of this.#core.splice(0)) s.close();
    this.#unlisten?.();
    await this.#js?.stop();
  }
}
