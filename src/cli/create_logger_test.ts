import assert from "node:assert/strict";
import { loadConfig } from "../config/mod.ts";
import { createLogger } from "./main.ts";

const NATS_PASSWORD = "nats-pw-7f3a9c";
const RPC_KEY = "64a9df0874fb4a93b9d0a3849de012d3";
const GATEWAY_TOKEN = "gw-token-51e0";

/** The process logger built from `env`, and the lines it wrote. */
function processLogger(env: Record<string, string>) {
  const lines: string[] = [];
  const logger = createLogger(loadConfig({ env }), (line) => lines.push(line));
  return { logger, lines };
}

Deno.test("a NATS password in NATS_URL never appears in a log line, nor the user:password pair", () => {
  const url = `nats://agent:${NATS_PASSWORD}@nats.example:4222`;
  const { logger, lines } = processLogger({ NATS_URL: `nats://127.0.0.1:4222,${url}` });
  // What the agent logs at start-up, and what a transport error echoing the URL looks like.
  logger.info(`start-up: connecting to NATS nats://127.0.0.1:4222,${url}`);
  logger.warn("NATS connection failed", { error: new Error(`cannot connect to ${url}`), server: url });
  const text = lines.join("\n");
  assert.ok(!text.includes(NATS_PASSWORD), text);
  assert.ok(!text.includes(`agent:${NATS_PASSWORD}`));
  assert.match(text, /nats:\/\/\[REDACTED\]@nats\.example:4222/);
  assert.match(text, /nats:\/\/127\.0\.0\.1:4222/, "URLs without credentials stay readable");
});

Deno.test("credentials of every URL variable are registered: RPC API keys, gateway and API user info", () => {
  const { logger, lines } = processLogger({
    OPBNB_RPC_URL: `https://opbnb-testnet.nodereal.io/v1/${RPC_KEY},https://rpc.example/?apikey=q-secret-1`,
    IPFS_GATEWAYS: `https://user:${GATEWAY_TOKEN}@gw.example`,
    PINATA_API_URL: "https://api-user:api-pw-2b@pinata.example",
    PINATA_GATEWAY: "https://gw-user:pgw-pw-3c@mine.mypinata.cloud",
  });
  logger.error("everything at once", {
    urls: [
      `https://opbnb-testnet.nodereal.io/v1/${RPC_KEY}`,
      "https://rpc.example/?apikey=q-secret-1",
      `https://user:${GATEWAY_TOKEN}@gw.example`,
      "https://api-user:api-pw-2b@pinata.example",
      "https://gw-user:pgw-pw-3c@mine.mypinata.cloud",
    ],
  });
  const text = lines.join("\n");
  for (const secret of [RPC_KEY, "q-secret-1", GATEWAY_TOKEN, "api-pw-2b", "pgw-pw-3c"]) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
});
