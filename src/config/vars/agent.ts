/** Variables of the agent as a whole: the operator HTTP endpoint and shutdown. */
import { parseHostPort } from "../host_port.ts";
import { duration, emptyOr, withDefault } from "../spec.ts";

/** Agent variables. */
export const agentVars = {
  httpAddr: withDefault({
    env: "HTTP_ADDR",
    schema: emptyOr(parseHostPort, "is not host:port (or empty to disable the endpoint)"),
    default: "127.0.0.1:9464",
    example: "0.0.0.0:9464",
    doc: "Where /healthz, /readyz and /metrics listen; set it empty (`HTTP_ADDR=`) to disable the endpoint.",
    group: "Agent",
    emptyIsValue: true,
  }),
  shutdownTimeout: withDefault({
    env: "SHUTDOWN_TIMEOUT",
    schema: duration({ min: 0, max: 60 * 60_000 }),
    default: "2m",
    example: "5m",
    doc: "On SIGINT/SIGTERM, how long running jobs may finish before they are stopped (failed/agent_shutdown).",
    group: "Agent",
  }),
};
