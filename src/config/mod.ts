/** Configuration: one zod-validated schema, one pure loader, secrets redacted. */
export * from "./duration.ts";
export * from "./env_file.ts";
export * from "./load.ts";
export * from "./redact.ts";
export * from "./schema.ts";
export type { VarSpec } from "./spec.ts";
export { DEPLOYED_REPUTATION_ADDRESS } from "./vars/chain.ts";
export * from "./host_port.ts";
