import assert from "node:assert/strict";
import { throttling } from "./provider.ts";

Deno.test("throttling answers are recognised by code or by the providers' rate-limit messages", () => {
  // Bodies as public RPC providers send them over HTTP 200.
  assert.equal(throttling({ code: -32005, message: "limit exceeded" }), "-32005 limit exceeded");
  assert.ok(throttling({ code: -32005, message: "daily request count exceeded, request rate limited" }));
  assert.ok(throttling({ code: 429, message: "Your app has exceeded its compute units per second capacity" }));
  assert.ok(throttling({ code: -32000, message: "429 Too Many Requests: over rate limit" }));
  assert.ok(throttling({ code: -32007, message: "100/second request limit reached - reduce calls per second" }));
});

Deno.test("ordinary JSON-RPC errors and reverts are answers, not throttling", () => {
  assert.equal(throttling({ code: -32000, message: "nonce too low: next nonce 5, tx nonce 4" }), undefined);
  assert.equal(
    throttling({ code: -32000, message: "transaction underpriced: gas tip cap 1, minimum needed 1001" }),
    undefined,
  );
  assert.equal(throttling({ code: -32000, message: "exceeds block gas limit" }), undefined);
  assert.equal(throttling({ code: 3, message: "execution reverted: rate limit exceeded" }), undefined);
  assert.equal(throttling(undefined), undefined);
});
