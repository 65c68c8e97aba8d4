/** One received job message, whatever the intake; settlement calls are no-ops in core mode. */

/** A job message and how to settle it with the server. */
export interface Delivery {
  readonly subject: string;
  readonly data: Uint8Array;
  /** How many times the server has delivered this message (1 in core mode). */
  readonly deliveryCount: number;
  /** Done with it for good (JetStream: removed from the work queue). */
  ack(): void;
  /** Invalid for good: never redeliver. */
  term(reason?: string): void;
  /** Give it back for redelivery later. */
  nak(delayMs?: number): void;
  /** Still working on it: extends the ack deadline. */
  working(): void;
}

/** A core-NATS delivery: at-most-once, nothing to settle. */
export function coreDelivery(subject: string, data: Uint8Array): Delivery {
  const noop = () => {};
  return { subject, data, deliveryCount: 1, ack: noop, term: noop, nak: noop, working: noop };
}
