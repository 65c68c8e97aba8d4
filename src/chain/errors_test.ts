import assert from "node:assert/strict";
import { AbiCoder, id } from "ethers";
import { NODE_REPUTATION_INTERFACE } from "./contract.ts";
import { chainError, decodeRevert } from "./errors.ts";

const coder = AbiCoder.defaultAbiCoder();
const account = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

Deno.test("a custom error from the ABI decodes to its name and arguments", () => {
  const data = NODE_REPUTATION_INTERFACE.encodeErrorResult("OwnableUnauthorizedAccount", [account]);
  // Nested the way ethers reports a JSON-RPC revert.
  const revert = decodeRevert({ code: "CALL_EXCEPTION", info: { error: { data } } }, NODE_REPUTATION_INTERFACE);
  assert.equal(revert?.kind, "custom");
  assert.equal(revert?.name, "OwnableUnauthorizedAccount");
  assert.equal(revert?.text, `OwnableUnauthorizedAccount(${account})`);
});

Deno.test("a reason string decodes to the reason", () => {
  const data = id("Error(string)").slice(0, 10) + coder.encode(["string"], ["Provider not registered"]).slice(2);
  const error = chainError("Heartbeat would fail", { data }, NODE_REPUTATION_INTERFACE);
  assert.equal(error.name, "ChainError");
  assert.equal(error.message, 'Heartbeat would fail: the contract reverted with reason "Provider not registered"');
  assert.equal(error.revert?.kind, "reason");
});

Deno.test("a panic decodes to its code", () => {
  const data = id("Panic(uint256)").slice(0, 10) + coder.encode(["uint256"], [0x11]).slice(2);
  assert.equal(decodeRevert({ error: { data } }, NODE_REPUTATION_INTERFACE)?.text, "panic 0x11");
});

Deno.test("unknown revert data is shown raw; a plain error is no revert", () => {
  assert.equal(decodeRevert({ data: "0xdeadbeef" }, NODE_REPUTATION_INTERFACE)?.kind, "unknown");
  assert.equal(decodeRevert(new Error("connection refused"), NODE_REPUTATION_INTERFACE), undefined);
  const e = chainError("Cannot read", new Error("connection refused"), NODE_REPUTATION_INTERFACE);
  assert.equal(e.message, "Cannot read: connection refused");
  assert.ok(e.cause instanceof Error);
});
