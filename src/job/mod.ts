/** Jobs: the model, message validation, signatures, the journal (SQLite) and the slot/GPU scheduler. */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./schema.ts";
export * from "./signature.ts";
export * from "./status.ts";
export * from "./journal.ts";
export * from "./scheduler.ts";
export * from "./delivery.ts";
export * from "./cancel.ts";
export * from "./outbox.ts";
export * from "./resume.ts";
export * from "./runner.ts";
export * from "./config.ts";
export * from "./jobs_command.ts";
