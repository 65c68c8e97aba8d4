import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../config/mod.ts";
import { chainSettings, checkTipCap, openChain } from "./session.ts";

const KEY = "0x" + "11".repeat(32);

function settingsFor(chainId: string, tip: string) {
  return chainSettings(
    loadConfig({ env: { CHAIN_ID: chainId, MAX_PRIORITY_FEE_PER_GAS: tip, AGENT_PRIVATE_KEY: KEY } }).config,
  );
}

Deno.test("MAX_PRIORITY_FEE_PER_GAS below opBNB's minimum tip (1001 wei) is a config error naming both and the fix", async () => {
  for (const chainId of ["5611", "204"]) {
    // Refused before any connection: the default RPC URL is never asked.
    await assert.rejects(
      () => openChain(settingsFor(chainId, "1000wei")),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.issues.length, 1);
        assert.equal(e.issues[0].variable, "MAX_PRIORITY_FEE_PER_GAS");
        assert.match(e.message, new RegExp(`minimum tip of chain ${chainId} \\(opBNB (test|main)net\\), 1001 wei`));
        assert.match(e.message, /Raise it to at least 1001wei/);
        assert.ok(!e.message.includes(KEY.slice(2)), "the key is not in the message");
        return true;
      },
    );
  }
});

Deno.test("a tip cap at or above the chain's minimum, or on a chain without a known one, is accepted", () => {
  assert.doesNotThrow(() => checkTipCap(5611, 1001n));
  assert.doesNotThrow(() => checkTipCap(204, 1_000_000n));
  assert.doesNotThrow(() => checkTipCap(31337, 0n));
  // The default tip cap (0.01 gwei) passes on opBNB testnet, the default chain.
  const settings = chainSettings(loadConfig({ env: { AGENT_PRIVATE_KEY: KEY } }).config);
  assert.equal(settings.chainId, 5611);
  assert.doesNotThrow(() => checkTipCap(settings.chainId, settings.caps.maxPriorityFeePerGas));
  assert.throws(() => checkTipCap(5611, 1000n), ConfigError);
});
