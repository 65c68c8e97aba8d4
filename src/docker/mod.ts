/** Docker Engine API access over the unix socket: client, images, hardened job containers, crash recovery. */
export * from "./client.ts";
export * from "./container_spec.ts";
export * from "./engine.ts";
export * from "./errors.ts";
export * from "./image_import.ts";
export * from "./images.ts";
export * from "./job_dirs.ts";
export * from "./limits.ts";
export * from "./log_demux.ts";
export * from "./outcome.ts";
export * from "./pull_progress.ts";
export * from "./recovery.ts";
export * from "./reference.ts";
export * from "./rules.ts";
export * from "./supervise.ts";
