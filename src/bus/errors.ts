/** Errors of the bus component. */

/** A NATS connection, subscription or publish problem. Messages never contain credentials. */
export class BusError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "BusError";
  }
}
