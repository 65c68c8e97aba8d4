import assert from "node:assert/strict";
import { redactUrl } from "./redact.ts";

Deno.test("URLs lose credentials, query values and API-key path segments, nothing else", () => {
  assert.equal(redactUrl("https://opbnb-testnet-rpc.bnbchain.org"), "https://opbnb-testnet-rpc.bnbchain.org");
  assert.equal(redactUrl("nats://user:hunter22@nats:4222"), "nats://***:***@nats:4222");
  assert.equal(
    redactUrl("https://opbnb-testnet.nodereal.io/v1/64a9df0874fb4a93b9d0a3849de012d3"),
    "https://opbnb-testnet.nodereal.io/v1/***",
  );
  assert.equal(redactUrl("https://rpc.example/?apikey=s3cr3t"), "https://rpc.example/?apikey=***");
  assert.equal(redactUrl("not a url"), "not a url");
});
