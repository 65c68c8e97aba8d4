/**
 * The L1 data fee (OP-Stack GasPriceOracle) in the cost of a heartbeat: the low-balance warning, the loop's state and
 * `status`, on anvil with a stand-in oracle at the predeploy address, and without one (plain anvil: L2 gas only).
 */
import assert from "node:assert/strict";
import { formatEther, Interface, JsonRpcProvider, parseEther, Transaction } from "ethers";
import {
  GAS_PRICE_ORACLE_ADDRESS,
  GAS_PRICE_ORACLE_INTERFACE,
  type HeartbeatState,
  registerCommand,
  startNode,
  statusCommand,
} from "../../src/chain/mod.ts";
import { loadConfig } from "../../src/config/mod.ts";
import type { LogRecord } from "../../src/log/mod.ts";
import { CHAIN_ID, ChainFixture, memoryLogger } from "./chain_fixture.ts";
import { compileOracle, installOracle, removeOracle } from "./gas_price_oracle.ts";
import { RpcStandIn } from "./rpc_stand_in.ts";

const TUNING = { minIntervalMs: 500, jitter: 0, pollMs: 100, backoff: { initialMs: 200, maxMs: 1_000 } };
const ORACLE = GAS_PRICE_ORACLE_ADDRESS.toLowerCase();

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The unsigned bytes of a mined transaction, rebuilt from what the chain returns for it. */
async function unsignedBytes(reader: JsonRpcProvider, hash: string): Promise<string> {
  const tx = (await reader.getTransaction(hash))!;
  return Transaction.from({
    type: tx.type,
    to: tx.to,
    data: tx.data,
    nonce: tx.nonce,
    gasLimit: tx.gasLimit,
    chainId: tx.chainId,
    value: tx.value,
    maxFeePerGas: tx.maxFeePerGas,
    maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
  }).unsignedSerialized;
}

/** Runs a node through `rpc` until three heartbeats are mined; returns its states and its low-balance warnings. */
async function runNode(chain: ChainFixture, rpc: RpcStandIn) {
  const { logger, writer } = memoryLogger();
  const key = await chain.freshKey(10n ** 18n);
  const controller = new AbortController();
  const states: HeartbeatState[] = [];
  // Every balance is "low" at this threshold, so the first mined heartbeat logs the warning with its numbers.
  const node = await startNode(
    chain.settings(key.key, { rpcUrls: [rpc.url], lowBalanceHeartbeats: 1_000_000_000 }),
    { gpuModel: "NVIDIA L4", vram: 23034n },
    { logger, signal: controller.signal, tuning: { ...TUNING, onState: (s) => states.push(s) } },
  );
  try {
    await until("three heartbeats", () => node.heartbeat.state.txCount >= 3);
  } finally {
    controller.abort();
    await node[Symbol.asyncDispose]();
  }
  const warnings = writer.records.filter((r: LogRecord) => r.msg === `Low balance: send BNB to ${key.address}`);
  // The first snapshot that has read the balance belongs to the first mined heartbeat, as does the first warning.
  const first = states.find((s) => s.heartbeatCost !== undefined)!;
  return { node, first, warnings, text: writer.text(), key };
}

/** A plain provider for the test's own reads (the node's is closed when it stops). */
function reader(chain: ChainFixture): JsonRpcProvider {
  return new JsonRpcProvider(chain.anvil.url, CHAIN_ID, { staticNetwork: true });
}

/** GasPriceOracle calls a node made through `rpc`. */
function oracleCalls(rpc: RpcStandIn) {
  return {
    getCode: rpc.callsOf("eth_getCode", (c) => String(c.params[0]).toLowerCase() === ORACLE).length,
    getL1Fee: rpc.callsOf("eth_call", (c) => String((c.params[0] as { to?: string }).to).toLowerCase() === ORACLE)
      .length,
  };
}

Deno.test("the stand-in GasPriceOracle has the OP-Stack getL1Fee signature", async () => {
  const standIn = new Interface((await compileOracle()).abi as never);
  assert.equal(
    standIn.getFunction("getL1Fee")!.format("full"),
    GAS_PRICE_ORACLE_INTERFACE.getFunction("getL1Fee")!.format("full"),
  );
  assert.equal(
    GAS_PRICE_ORACLE_INTERFACE.getFunction("getL1Fee")!.format("full"),
    "function getL1Fee(bytes _data) view returns (uint256)",
  );
});

Deno.test("heartbeat cost and the low-balance warning include the L1 data fee only where the chain charges one", async (t) => {
  await using chain = await ChainFixture.start();
  const read = reader(chain);

  await t.step("plain anvil (no GasPriceOracle): L2 gas only, and getL1Fee is never asked", async () => {
    await using rpc = RpcStandIn.start(chain.anvil.url);
    const { first, warnings } = await runNode(chain, rpc);
    const cost = first.heartbeatCost!;
    assert.equal(cost.l1, 0n);
    const tx = (await read.getTransaction(first.lastTxHash!))!;
    assert.equal(cost.l2, tx.gasLimit * tx.maxFeePerGas!, "gas limit at the transaction's fee cap");
    assert.equal(cost.total, cost.l2);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].fields.heartbeatsLeft, `${first.balance! / cost.l2}`);
    assert.equal(warnings[0].fields.l1Fee, "0.0");
    assert.deepEqual(oracleCalls(rpc), { getCode: 1, getL1Fee: 0 });
  });

  await t.step("with the predeploy: the L1 fee of the heartbeat's own transaction is added", async () => {
    await installOracle(chain.anvil);
    await using rpc = RpcStandIn.start(chain.anvil.url);
    const { node, first, warnings, text, key } = await runNode(chain, rpc);
    const cost = first.heartbeatCost!;
    // What the oracle answers for the unsigned bytes of the heartbeat that was mined.
    const asked = await read.call({
      to: GAS_PRICE_ORACLE_ADDRESS,
      data: GAS_PRICE_ORACLE_INTERFACE.encodeFunctionData("getL1Fee", [await unsignedBytes(read, first.lastTxHash!)]),
    });
    const l1 = GAS_PRICE_ORACLE_INTERFACE.decodeFunctionResult("getL1Fee", asked)[0] as bigint;
    assert.equal(cost.l1, l1);
    assert.ok(cost.l1 > parseEther("0.005") && cost.l1 < parseEther("0.02"), `L1 fee ${formatEther(cost.l1)} BNB`);
    assert.equal(cost.total, cost.l2 + cost.l1);

    assert.equal(warnings.length, 1);
    const left = BigInt(warnings[0].fields.heartbeatsLeft as string);
    assert.equal(left, first.balance! / (cost.l2 + cost.l1));
    assert.ok(left * 10n < first.balance! / cost.l2, `${left} heartbeats left, L2 only it would be ten times more`);
    assert.equal(warnings[0].fields.l1Fee, formatEther(cost.l1));
    assert.equal(warnings[0].fields.perHeartbeat, formatEther(cost.total));

    // Presence is read once per session; getL1Fee once per mined heartbeat.
    assert.deepEqual(oracleCalls(rpc), { getCode: 1, getL1Fee: node.heartbeat.state.txCount });
    assert.ok(!text.toLowerCase().includes(key.key.slice(2).toLowerCase()), "the key reached the log");
    await removeOracle(chain.anvil);
  });
  read.destroy();
});

Deno.test("status shows how many heartbeats the balance pays for, the L1 data fee included where charged", async (t) => {
  await using chain = await ChainFixture.start();
  const { logger, writer } = memoryLogger();
  const node = await chain.freshKey(10n ** 18n);
  const loaded = loadConfig({
    env: {
      OPBNB_RPC_URL: chain.anvil.url,
      CHAIN_ID: String(CHAIN_ID),
      AGENT_PRIVATE_KEY: node.key,
      REPUTATION_CONTRACT_ADDRESS: chain.contractAddress,
      MAX_FEE_PER_GAS: "50gwei",
    },
  });
  const lines: string[] = [];
  const ctx = (options: Record<string, string | boolean>) => ({
    args: [],
    options,
    loaded,
    logger,
    print: (l: string) => void lines.push(l),
    signal: new AbortController().signal,
  });
  const status = async () => {
    assert.equal(await statusCommand.run(ctx({ json: true })), 0, writer.text());
    return JSON.parse(lines.at(-1)!);
  };

  await t.step("not registered: no heartbeat can be priced, and status says so", async () => {
    const s = await status();
    assert.equal(s.heartbeatsLeft, null);
    assert.equal(await statusCommand.run(ctx({})), 0);
    assert.ok(lines.some((l) => /^heartbeats +- \(not registered/.test(l)), lines.join("\n"));
  });

  assert.equal(await registerCommand.run(ctx({ "gpu-model": "NVIDIA L4", vram: "23034" })), 0, writer.text());
  let l2Only = 0n;

  await t.step("plain anvil: balance / L2 cost, no L1 fee", async () => {
    const s = await status();
    assert.equal(s.heartbeatL1Fee, "0.0");
    const cost = parseEther(s.heartbeatCost);
    assert.ok(cost > 0n);
    l2Only = BigInt(s.heartbeatsLeft);
    assert.equal(l2Only, parseEther(s.balance) / cost);
    assert.equal(await statusCommand.run(ctx({})), 0);
    assert.ok(lines.some((l) => /^heartbeats +\d+ paid .*no L1 data fee on this chain\)$/.test(l)), lines.join("\n"));
  });

  await t.step("with the GasPriceOracle predeploy: the L1 fee is in the count", async () => {
    await installOracle(chain.anvil);
    const s = await status();
    const l1 = parseEther(s.heartbeatL1Fee);
    assert.ok(l1 > parseEther("0.005"), `L1 fee ${s.heartbeatL1Fee} BNB`);
    const left = BigInt(s.heartbeatsLeft);
    assert.equal(left, parseEther(s.balance) / parseEther(s.heartbeatCost));
    assert.ok(left * 10n < l2Only, `${left} with the L1 fee vs ${l2Only} without`);
    assert.equal(await statusCommand.run(ctx({})), 0);
    assert.ok(
      lines.some((l) => l.startsWith("heartbeats") && l.includes(`L1 data fee ${s.heartbeatL1Fee} BNB included`)),
      lines.join("\n"),
    );
  });
});
