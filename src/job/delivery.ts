/** One received job (or cancel) message, whatever the transport: the runner settles it through this interface. */

/** A message and how to settle it with the server it came from. */
export interface Delivery {
  readonly subject: string;
  readonly data: Uint8Array;
  /** How many times the server has delivered this message (1 when the transport has no redelivery). */
  readonly deliveryCount: number;
  /** The server can deliver it again (`nak`): JetStream. Core NATS deliveries are at most once. */
  readonly redeliverable: boolean;
  /** The server will not deliver it again after this (its `MaxDeliver` is reached): settle it for good now. */
  readonly final: boolean;
  /** Done with it for good (JetStream: removed from the work queue). */
  ack(): void;
  /** Invalid for good: never redeliver. */
  term(reason?: string): void;
  /** Give it back for redelivery later. */
  nak(delayMs?: number): void;
  /** Still working on it: extends the ack deadline. */
  working(): void;
}

/** A delivery with nothing to settle (core NATS: at most once). */
export function onceDelivery(subject: string, data: Uint8Array): Delivery {
  const noop = () => {};
  return {
    subject,
    data,
    deliveryCount: 1,
    redeliverable: false,
    final: true,
    ack: noop,
    term: noop,
    nak: noop,
    working: noop,
  };
}
