/** `status` against anvil and the reference NodeReputation: the job count is the contract's own. */
import assert from "node:assert/strict";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { nodeReputation, registerCommand, statusCommand } from "../../src/chain/mod.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { ANVIL_KEYS } from "../support/anvil.ts";
import { CHAIN_ID, ChainFixture, memoryLogger } from "./chain_fixture.ts";

Deno.test({
  name: "status shows the job count the contract holds, as the network's owner raises it",
  async fn() {
    await using chain = await ChainFixture.start();
    const { logger, writer } = memoryLogger();
    const node = await chain.freshKey();
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
    assert.equal(await registerCommand.run(ctx({ "gpu-model": "NVIDIA L4", vram: "23034" })), 0, writer.text());
    assert.equal((await status()).jobCount, "0");

    // The owner (the deployer, anvil account 0) counts three successful jobs for the node.
    const provider = new JsonRpcProvider(chain.anvil.url, CHAIN_ID, { staticNetwork: true });
    try {
      // NonceManager: back-to-back sends must not reuse the nonce a cached count would give them.
      const owner = nodeReputation(chain.contractAddress, new NonceManager(new Wallet(ANVIL_KEYS[0], provider)));
      for (let i = 0; i < 3; i++) await (await owner.contract.incrementJobs(node.address)).wait();
      assert.equal(await owner.contract.successfulJobsCount(node.address), 3n);
    } finally {
      provider.destroy();
    }

    assert.equal((await status()).jobCount, "3");
    assert.equal(await statusCommand.run(ctx({})), 0);
    assert.ok(lines.includes("jobs done   3"), lines.join("\n"));
    assert.ok(!writer.text().toLowerCase().includes(node.key.slice(2).toLowerCase()), "the key reached the log");
  },
});
