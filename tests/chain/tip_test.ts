/** The chain's minimum tip: a config error before anything is sent, and a clear error when a node refuses one. */
import assert from "node:assert/strict";
import { Transaction } from "ethers";
import { ensureRegistered, openChain, SendError, startNode, statusCommand } from "../../src/chain/mod.ts";
import { EXIT, runCli } from "../../src/cli/main.ts";
import { CHAIN_ID, ChainFixture, memoryLogger } from "./chain_fixture.ts";
import { RpcStandIn } from "./rpc_stand_in.ts";

const GWEI = 1_000_000_000n;
const SPEC = { gpuModel: "NVIDIA L4", vram: 23034n };

/** Refuses raw transactions whose tip is below `floor` with geth's txpool error (core/txpool/validation.go). */
function enforceMinimumTip(rpc: RpcStandIn, floor: bigint): bigint[] {
  const refused: bigint[] = [];
  rpc.intercept = ({ method, params }) => {
    if (method !== "eth_sendRawTransaction") return undefined;
    const tip = Transaction.from(params[0] as string).maxPriorityFeePerGas ?? 0n;
    if (tip >= floor) return undefined;
    refused.push(tip);
    return { code: -32000, message: `transaction underpriced: gas tip cap ${tip}, minimum needed ${floor}` };
  };
  return refused;
}

Deno.test("`status` with MAX_PRIORITY_FEE_PER_GAS below opBNB's minimum tip exits 78 naming the variable and fix", async () => {
  await using chain = await ChainFixture.start();
  const node = await chain.freshKey();
  const env: Record<string, string> = {
    OPBNB_RPC_URL: chain.anvil.url,
    CHAIN_ID: String(CHAIN_ID),
    AGENT_PRIVATE_KEY: node.key,
    REPUTATION_CONTRACT_ADDRESS: chain.contractAddress,
    MAX_PRIORITY_FEE_PER_GAS: "1000wei",
  };
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["status"], {
    env: (name) => env[name],
    readTextFile: () => Promise.reject(new Deno.errors.NotFound("no .env")),
    stdout: (l) => void out.push(l),
    stderr: (l) => void err.push(l),
    signal: new AbortController().signal,
  }, { commands: [statusCommand], fallback: statusCommand });
  const text = err.join("");
  assert.equal(code, EXIT.config, text);
  assert.equal(EXIT.config, 78);
  assert.match(
    text,
    /MAX_PRIORITY_FEE_PER_GAS: "1000wei" is below the minimum tip of chain 5611 \(opBNB testnet\), 1001 wei/,
  );
  assert.match(text, /Raise it to at least 1001wei/);
  assert.deepEqual(out, [], "nothing printed as if the status were read");
  assert.ok(!text.toLowerCase().includes(node.key.slice(2).toLowerCase()), "the key reached the output");
});

Deno.test("a node refusing the tip (geth's 'minimum needed') is reported as the tip cap to raise, not bumped towards", async (t) => {
  await using chain = await ChainFixture.start();
  await using rpc = RpcStandIn.start(chain.anvil.url);
  const { logger, writer } = memoryLogger();
  // The fixture's tip cap is 2 gwei; this node wants 5.
  const floor = 5n * GWEI;

  await t.step(
    "registration: a SendError of kind 'tip' naming MAX_PRIORITY_FEE_PER_GAS and the node's minimum",
    async () => {
      const node = await chain.freshKey();
      const refused = enforceMinimumTip(rpc, floor);
      await using session = await openChain(chain.settings(node.key, { rpcUrls: [rpc.url] }), { logger });
      await assert.rejects(
        () => ensureRegistered(session, SPEC, { logger, receiptTimeoutMs: 500, pollMs: 50 }),
        (e: unknown) =>
          e instanceof SendError && e.kind === "tip" &&
          e.message.includes("raise MAX_PRIORITY_FEE_PER_GAS to at least 5000000000wei"),
      );
      assert.equal(refused.length, 1, "refused once, not re-sent with bumped fees");
    },
  );

  await t.step("heartbeats: logged as an error each retry, and the tip is not crawled up by replacements", async () => {
    const node = await chain.freshKey();
    // Registered directly on anvil; only the heartbeats go through the refusing node.
    rpc.intercept = () => undefined;
    await using direct = await openChain(chain.settings(node.key), { logger });
    await ensureRegistered(direct, SPEC, { logger });
    const refused = enforceMinimumTip(rpc, floor);
    const controller = new AbortController();
    const running = await startNode(chain.settings(node.key, { rpcUrls: [rpc.url] }), SPEC, {
      logger,
      signal: controller.signal,
      tuning: { minIntervalMs: 500, pollMs: 50, backoff: { initialMs: 50, maxMs: 100 } },
    });
    try {
      const deadline = Date.now() + 10_000;
      while (refused.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(refused.length >= 4, `refusals: ${refused.length}`);
      assert.equal(new Set(refused).size, 1, `every attempt with the same tip, got ${refused}`);
      assert.equal(running.heartbeat.state.txCount, 0);
      const errors = writer.records.filter((r) => r.msg === "Heartbeat step failed; retrying" && r.level === "error");
      assert.ok(errors.length >= 4, writer.text());
      assert.match(String(errors[0].fields.error), /raise MAX_PRIORITY_FEE_PER_GAS to at least 5000000000wei/);
    } finally {
      controller.abort();
      await running[Symbol.asyncDispose]();
    }
  });
});
