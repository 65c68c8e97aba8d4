/** Structured logging: one logger, JSON lines or pretty, secrets redacted. */
export * from "./logger.ts";
export * from "./progress.ts";
