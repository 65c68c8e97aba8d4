/** Variables of the bus component: NATS connection and subjects. */
import { list, url, withDefault } from "../spec.ts";

/** Bus variables. */
export const busVars = {
  natsServers: withDefault({
    env: "NATS_URL",
    schema: list(url(["nats", "tls", "ws", "wss"]), { min: 1 }),
    default: "nats://127.0.0.1:4222",
    example: "nats://nats-1:4222,nats://nats-2:4222",
    doc: "NATS server URL(s), comma-separated.",
    group: "NATS",
  }),
};
