/** The chain component: key, NodeReputation registration, heartbeats, `register`/`status` (the reference contract helper lives in `reference_contract.ts`, imported directly: it loads solc). */
export * from "./commands.ts";
export * from "./contract.ts";
export * from "./errors.ts";
export * from "./fees.ts";
export * from "./heartbeat.ts";
export * from "./heartbeat_cost.ts";
export * from "./key.ts";
export * from "./l1_fee.ts";
export * from "./node.ts";
export * from "./provider.ts";
export * from "./registration.ts";
export * from "./session.ts";
export * from "./tx.ts";
