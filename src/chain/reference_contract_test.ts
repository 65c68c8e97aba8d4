import assert from "node:assert/strict";
import { Interface } from "ethers";
import { compileReferenceContract, REFERENCE_ARTIFACT } from "./reference_contract.ts";
import { NODE_REPUTATION_ABI, REGISTER_NODE_SELECTOR, SEND_HEARTBEAT_SELECTOR } from "./contract.ts";

function signatures(abi: readonly unknown[]): Set<string> {
  const iface = new Interface(abi as never);
  const out = new Set<string>();
  iface.forEachFunction((f) => out.add(f.format("full")));
  iface.forEachEvent((e) => out.add(e.format("full")));
  iface.forEachError((e) => out.add(e.format("full")));
  if (iface.deploy.inputs.length) out.add(`constructor ${iface.deploy.format("full")}`);
  return out;
}

Deno.test("reference contract has exactly the real ABI: every function, event and error signature", () => {
  const real = signatures(NODE_REPUTATION_ABI);
  const ours = signatures(REFERENCE_ARTIFACT.abi);
  // 12 functions, 4 events, 2 errors.
  assert.equal(real.size, 18);
  assert.ok(real.has(
    "function getProviderInfo(address provider) view returns " +
      "((string gpuModel, uint256 vram, uint256 lastSeen, bool isRegistered) providerInfo, uint256 jobCount)",
  ));
  assert.deepEqual([...ours].sort(), [...real].sort());
});

Deno.test("registerNode and sendHeartbeat selectors are 0xf3ef747f and 0x34f167a9", () => {
  for (const abi of [NODE_REPUTATION_ABI, REFERENCE_ARTIFACT.abi]) {
    const iface = new Interface(abi as never);
    assert.equal(iface.getFunction("registerNode(string,uint256)")!.selector, "0xf3ef747f");
    assert.equal(iface.getFunction("sendHeartbeat()")!.selector, "0x34f167a9");
  }
  assert.equal(REGISTER_NODE_SELECTOR, "0xf3ef747f");
  assert.equal(SEND_HEARTBEAT_SELECTOR, "0x34f167a9");
});

Deno.test("recompiling contracts/NodeReputation.sol with npm solc gives the committed artifact", async () => {
  const fresh = await compileReferenceContract();
  assert.equal(fresh.compiler, REFERENCE_ARTIFACT.compiler);
  assert.deepEqual(fresh.abi, REFERENCE_ARTIFACT.abi);
  assert.equal(fresh.bytecode, REFERENCE_ARTIFACT.bytecode);
});

Deno.test("a compile error is reported with solc's message", async () => {
  await assert.rejects(
    () => compileReferenceContract("pragma solidity ^0.8.0; contract NodeReputation { function f( }"),
    (e: Error) => e.name === "ChainError" && /Cannot compile NodeReputation\.sol/.test(e.message),
  );
});
