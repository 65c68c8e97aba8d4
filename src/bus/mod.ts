/** NATS transport: the connection, job and cancel intake, the status sink, presence. The job lifecycle is src/job/. */
export * from "./errors.ts";
export * from "./connection.ts";
export * from "./subjects.ts";
export * from "./status_sink.ts";
export * from "./jetstream_setup.ts";
export * from "./intake.ts";
export * from "./presence.ts";
export * from "./config.ts";
export * from "./job_logs.ts";
