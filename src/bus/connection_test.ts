import assert from "node:assert/strict";
import { splitUrlCredentials } from "./connection.ts";

Deno.test("credentials written into NATS_URL are passed as options, the server URLs left without them", () => {
  assert.deepEqual(splitUrlCredentials(["nats://agent:p%40ss@nats-1:4222", "tls://agent:p%40ss@nats-2:4222"]), {
    servers: ["nats://nats-1:4222", "tls://nats-2:4222"],
    user: "agent",
    pass: "p@ss",
  });
  assert.deepEqual(splitUrlCredentials(["nats://s3cr3t-token@nats:4222"]), {
    servers: ["nats://nats:4222"],
    token: "s3cr3t-token",
  });
  assert.deepEqual(splitUrlCredentials(["nats://127.0.0.1:4222"]), { servers: ["nats://127.0.0.1:4222"] });
});
