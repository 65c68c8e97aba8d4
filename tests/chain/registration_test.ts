import assert from "node:assert/strict";
import { type Log, Wallet } from "ethers";
import { ANVIL_KEYS } from "../support/anvil.ts";
import { freePort } from "../support/ports.ts";
import {
  ensureRegistered,
  NODE_REPUTATION_INTERFACE,
  openChain,
  registerCommand,
  startNode,
  statusCommand,
} from "../../src/chain/mod.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { ChainFixture, memoryLogger } from "./chain_fixture.ts";

function registeredEvents(logs: readonly Log[]) {
  return logs.map((l) => NODE_REPUTATION_INTERFACE.parseLog(l)).filter((e) => e?.name === "NodeRegistered")
    .map((e) => ({ provider: e!.args[0] as string, gpuModel: e!.args[1] as string, vram: e!.args[2] as bigint }));
}

Deno.test("registration on NodeReputation (anvil)", async (t) => {
  await using chain = await ChainFixture.start();
  const { logger, writer } = memoryLogger();
  const node = await chain.freshKey();
  const settings = chain.settings(node.key);
  const h100 = { gpuModel: "8x NVIDIA H100 80GB HBM3", vram: 81559n };

  await t.step("a fresh key registers: NodeRegistered carries the model and VRAM", async () => {
    await using session = await openChain(settings, { logger });
    const outcome = await ensureRegistered(session, h100, { logger });
    assert.equal(outcome.action, "registered");
    assert.equal(outcome.address, node.address);
    const receipt = await session.provider.getTransactionReceipt(outcome.txHash!);
    assert.deepEqual(registeredEvents(receipt!.logs), [{ provider: node.address, ...h100 }]);
    const record = await session.contract.provider(node.address);
    assert.deepEqual([record.isRegistered, record.gpuModel, record.vram], [true, h100.gpuModel, h100.vram]);
  });

  await t.step("a second start with the same GPU sends no transaction", async () => {
    await using session = await openChain(settings, { logger });
    const nonceBefore = await session.provider.getTransactionCount(node.address, "latest");
    const outcome = await ensureRegistered(session, h100, { logger });
    assert.equal(outcome.action, "unchanged");
    assert.equal(outcome.txHash, undefined);
    assert.equal(await session.provider.getTransactionCount(node.address, "latest"), nonceBefore);
  });

  await t.step("a changed GPU registers again and reports the previous specs", async () => {
    await using session = await openChain(settings, { logger });
    const a100 = { gpuModel: "NVIDIA A100-SXM4-40GB", vram: 40960n };
    const outcome = await ensureRegistered(session, a100, { logger });
    assert.equal(outcome.action, "updated");
    assert.deepEqual(outcome.previous, h100);
    const receipt = await session.provider.getTransactionReceipt(outcome.txHash!);
    assert.deepEqual(registeredEvents(receipt!.logs), [{ provider: node.address, ...a100 }]);
    assert.equal((await session.contract.provider(node.address)).gpuModel, a100.gpuModel);
  });

  await t.step("the first RPC URL dead and the second alive: start-up and registration still work", async () => {
    const dead = `http://127.0.0.1:${freePort()}`;
    const other = await chain.freshKey();
    await using session = await openChain(chain.settings(other.key, { rpcUrls: [dead, chain.anvil.url] }), { logger });
    const outcome = await ensureRegistered(session, h100, { logger });
    assert.equal(outcome.action, "registered");
    assert.ok(session.provider.currentUrl.startsWith(chain.anvil.url), session.provider.currentUrl);
    assert.match(writer.text(), /RPC endpoint failed; using the next one/);
    assert.match(writer.text(), /RPC endpoint unreachable at start-up/);
  });

  await t.step("a wrong chain id refuses to start, naming both ids", async () => {
    await assert.rejects(
      () => openChain(chain.settings(node.key, { chainId: 204 }), { logger }),
      (e: Error) => e.name === "ChainError" && /serves chain id 5611, but CHAIN_ID is 204/.test(e.message),
    );
  });

  await t.step("no contract code at the address refuses to start, naming the address", async () => {
    const nowhere = Wallet.createRandom().address;
    await assert.rejects(
      () => openChain(chain.settings(node.key, { contractAddress: nowhere }), { logger }),
      (e: Error) =>
        e.name === "ChainError" && e.message.includes(`No contract code at REPUTATION_CONTRACT_ADDRESS ${nowhere}`),
    );
  });

  await t.step("a zero balance refuses to start, naming the address to fund", async () => {
    const broke = await chain.freshKey(0n);
    const controller = new AbortController();
    await assert.rejects(
      () => startNode(chain.settings(broke.key), h100, { logger, signal: controller.signal }),
      (e: Error) => e.name === "ChainError" && e.message.includes(`send BNB to ${broke.address}`),
    );
  });

  await t.step("reverts are decoded through the ABI: reason strings and custom errors", async () => {
    const stranger = await chain.freshKey();
    await using session = await openChain(chain.settings(stranger.key), { logger });
    await assert.rejects(
      () => session.sender.prepare(session.contract.address, session.contract.encodeHeartbeat(), "Heartbeat"),
      (e: Error) => e.message === 'Heartbeat would fail: the contract reverted with reason "Provider not registered"',
    );
    const data = NODE_REPUTATION_INTERFACE.encodeFunctionData("incrementJobs", [node.address]);
    await assert.rejects(
      () => session.sender.prepare(session.contract.address, data, "incrementJobs"),
      (e: Error) => e.message.endsWith(`reverted with OwnableUnauthorizedAccount(${stranger.address})`),
    );
  });

  await t.step("register and status commands report the node", async () => {
    const env = {
      OPBNB_RPC_URL: chain.anvil.url,
      CHAIN_ID: "5611",
      AGENT_PRIVATE_KEY: ANVIL_KEYS[3],
      REPUTATION_CONTRACT_ADDRESS: chain.contractAddress,
      MAX_FEE_PER_GAS: "50gwei",
    };
    const loaded = loadConfig({ env });
    const lines: string[] = [];
    const ctx = (options: Record<string, string | boolean>) => ({
      args: [],
      options,
      loaded,
      logger,
      print: (l: string) => lines.push(l),
      signal: new AbortController().signal,
    });
    assert.equal(await registerCommand.run(ctx({})), 1, "no GPU given and no detector: usage error");
    assert.equal(await registerCommand.run(ctx({ "gpu-model": "NVIDIA L4", vram: "23034" })), 0);
    assert.match(
      lines.at(-1)!,
      /^Registered: 0x90F79bf6EB2c4f870365E785982E1f101E93b906 — NVIDIA L4, 23034 MiB \(tx 0x/,
    );
    assert.equal(await registerCommand.run(ctx({ "gpu-model": "NVIDIA L4", vram: "23034" })), 0);
    assert.match(lines.at(-1)!, /^Already registered/);
    assert.equal(await statusCommand.run(ctx({ json: true })), 0);
    const status = JSON.parse(lines.at(-1)!);
    assert.equal(status.registered, true);
    assert.equal(status.gpuModel, "NVIDIA L4");
    assert.equal(status.vram, "23034");
    assert.equal(status.active, true);
    assert.equal(status.jobCount, "0");
    assert.ok(Number(status.balance) > 0);
    assert.ok(status.lastSeen);
  });

  await t.step("no private key reaches the logs", () => {
    const text = writer.text().toLowerCase();
    for (const key of [node.key, ANVIL_KEYS[3]]) assert.ok(!text.includes(key.slice(2).toLowerCase()));
  });
});
