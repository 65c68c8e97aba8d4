import assert from "node:assert/strict";
import { type ChainNode, type HeartbeatState, NODE_REPUTATION_INTERFACE, startNode } from "../../src/chain/mod.ts";
import { ChainFixture, memoryLogger } from "./chain_fixture.ts";

const TUNING = { minIntervalMs: 500, jitter: 0.05, pollMs: 100, backoff: { initialMs: 200, maxMs: 1_000 } };

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** NodeHeartbeat events of `address` from block `from`, with the nonce of the transaction that emitted each. */
async function heartbeats(node: ChainNode, from: number): Promise<{ nonce: number; hash: string }[]> {
  const { provider, contract, address } = node.session;
  const topic = NODE_REPUTATION_INTERFACE.getEvent("NodeHeartbeat")!.topicHash;
  const logs = await provider.getLogs({
    address: contract.address,
    fromBlock: from,
    toBlock: "latest",
    topics: [topic, `0x${address.slice(2).toLowerCase().padStart(64, "0")}`],
  });
  return await Promise.all(logs.map(async (l) => ({
    nonce: (await provider.getTransaction(l.transactionHash))!.nonce,
    hash: l.transactionHash,
  })));
}

Deno.test("heartbeats on NodeReputation (anvil, 1 s interval)", async (t) => {
  await using chain = await ChainFixture.start();
  const { logger, writer } = memoryLogger();
  const key = await chain.freshKey();
  const controller = new AbortController();
  const states: HeartbeatState[] = [];
  const started = Date.now();
  const node = await startNode(chain.settings(key.key), { gpuModel: "NVIDIA L40S", vram: 46068n }, {
    logger,
    signal: controller.signal,
    tuning: { ...TUNING, onState: (s) => states.push(s) },
  });
  try {
    await t.step("heartbeats land as NodeHeartbeat events, the first right after registration", async () => {
      assert.equal(node.registration.action, "registered");
      await until("the first heartbeat", () => node.heartbeat.state.txCount >= 1);
      assert.ok(Date.now() - started < 5_000, "first heartbeat within seconds of start");
      await until("three heartbeats", () => node.heartbeat.state.txCount >= 3);
      const events = await heartbeats(node, node.registration.blockNumber!);
      assert.ok(events.length >= 3);
      assert.equal(new Set(events.map((e) => e.nonce)).size, events.length, "one heartbeat per nonce");
      assert.ok(node.heartbeat.state.balance! > 0n);
      assert.ok(node.heartbeat.state.lastHeartbeatAt instanceof Date);
    });

    await t.step(
      "with automine off: no second heartbeat stacked, the stuck one replaced, one mined per nonce",
      async () => {
        const fromBlock = await node.session.provider.getBlockNumber();
        await chain.anvil.rpc("evm_setAutomine", [false]);
        const before = node.heartbeat.state;
        let maxQueued = 0;
        await until("two replacements of the stuck heartbeat", async () => {
          const pool = await chain.anvil.rpc<{ pending: string; queued: string }>("txpool_status");
          maxQueued = Math.max(maxQueued, Number(pool.pending) + Number(pool.queued));
          return node.heartbeat.state.replacements >= before.replacements + 2;
        });
        const stuck = node.heartbeat.state.pending!;
        assert.ok(stuck.hashes.length >= 3, "first send plus replacements, all on one nonce");
        assert.equal(maxQueued, 1, "never more than one heartbeat in the mempool");
        assert.equal(node.heartbeat.state.txCount, before.txCount, "nothing mined while automine is off");

        await chain.anvil.rpc("evm_setAutomine", [true]);
        await chain.anvil.rpc("evm_mine");
        await until("the stuck heartbeat mined", () => node.heartbeat.state.txCount > before.txCount);
        await until("one more heartbeat after it", () => node.heartbeat.state.txCount > before.txCount + 1);
        const events = await heartbeats(node, fromBlock);
        const nonces = events.map((e) => e.nonce);
        assert.equal(new Set(nonces).size, nonces.length, `one heartbeat per nonce, got nonces ${nonces}`);
        const minedStuck = events.filter((e) => e.nonce === stuck.nonce);
        assert.equal(minedStuck.length, 1);
        assert.ok(stuck.hashes.includes(minedStuck[0].hash), "the mined one is one of our replacements");
      },
    );

    await t.step("anvil stopped for several intervals: the loop backs off, keeps running, and resumes", async () => {
      await until("a settled heartbeat", () => node.heartbeat.state.pending === undefined);
      const before = node.heartbeat.state;
      await chain.anvil.stop();
      const downAt = Date.now();
      await until("three failed steps", () => node.heartbeat.state.consecutiveFailures >= 3);
      await new Promise((r) => setTimeout(r, 3_500 - (Date.now() - downAt)));
      const down = node.heartbeat.state;
      assert.equal(down.running, true);
      const failed = down.failures - before.failures;
      // 3.5 s of 100 ms polling would be ~35 attempts; backoff (200 ms doubling to 1 s) allows far fewer.
      assert.ok(failed >= 3 && failed <= 10, `failed steps while down: ${failed}`);
      assert.match(down.lastError ?? "", /No RPC endpoint answered/);

      await chain.anvil.start();
      await until("heartbeats after anvil returns", () => node.heartbeat.state.txCount >= down.txCount + 2, 15_000);
      assert.equal(node.heartbeat.state.consecutiveFailures, 0);
    });

    await t.step("a balance paying for fewer than LOW_BALANCE_HEARTBEATS heartbeats is warned about", async () => {
      const poor = await chain.freshKey();
      const inner = new AbortController();
      const other = await startNode(
        chain.settings(poor.key, { lowBalanceHeartbeats: 1_000_000_000 }),
        { gpuModel: "NVIDIA T4", vram: 15360n },
        { logger, signal: inner.signal, tuning: TUNING },
      );
      try {
        await until("its first heartbeat", () => other.heartbeat.state.txCount >= 1);
        assert.match(writer.text(), new RegExp(`Low balance: send BNB to ${poor.address}`));
        assert.doesNotMatch(writer.text(), new RegExp(`Low balance: send BNB to ${key.address}`));
      } finally {
        inner.abort();
        await other[Symbol.asyncDispose]();
      }
    });

    await t.step("abort stops the loop and run() resolves", async () => {
      controller.abort();
      await node.done;
      assert.equal(node.heartbeat.state.running, false);
      assert.equal(states.at(-1)?.running, false);
      assert.ok(!writer.text().toLowerCase().includes(key.key.slice(2).toLowerCase()), "key never logged");
    });
  } finally {
    controller.abort();
    await node[Symbol.asyncDispose]();
  }
});
