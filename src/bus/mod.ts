/** NATS: connection, job intake (core and JetStream), status outbox publishing, presence, cancel. */
export * from "./errors.ts";
export * from "./connection.ts";
export * from "./subjects.ts";
export * from "./delivery.ts";
export * from "./status_publisher.ts";
export * from "./jetstream_setup.ts";
export * from "./job_service.ts";
export * from "./presence.ts";
export * from "./config.ts";
