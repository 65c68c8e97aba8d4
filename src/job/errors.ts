/** Errors of the job component. */

/** A job message that cannot be accepted; `jobId` is set when the id itself was readable. */
export class InvalidJobError extends Error {
  readonly jobId?: string;
  constructor(message: string, options: { jobId?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "InvalidJobError";
    this.jobId = options.jobId;
  }
}

/** The job journal could not be read or written. */
export class JournalError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "JournalError";
  }
}
