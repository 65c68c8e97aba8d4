/** Jobs: the model, message validation, signatures, the journal (SQLite) and the slot/GPU scheduler. */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./schema.ts";
export * from "./signature.ts";
export * from "./status.ts";
export * from "./journal.ts";
export * from "./scheduler.ts";
export type { SpecChecks } from "./docker_checks.ts";
export { dockerSpecChecks } from "./docker_checks.ts";
