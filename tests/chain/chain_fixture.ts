/** A local chain for chain tests: anvil (chain id 5611) with the reference NodeReputation deployed by account #0. */
import { Wallet } from "ethers";
import { Anvil, ANVIL_KEYS } from "../support/anvil.ts";
import { deployReferenceContract } from "../../src/chain/reference_contract.ts";
import { type ChainSettings, FailoverRpcProvider } from "../../src/chain/mod.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";

/** opBNB testnet's chain id, which anvil is started with. */
export const CHAIN_ID = 5611;
const GWEI = 1_000_000_000n;

/** A running anvil with the contract deployed; dispose to stop it. */
export class ChainFixture implements AsyncDisposable {
  readonly anvil: Anvil;
  readonly contractAddress: string;
  readonly stateDir: string;

  private constructor(anvil: Anvil, contractAddress: string, stateDir: string) {
    this.anvil = anvil;
    this.contractAddress = contractAddress;
    this.stateDir = stateDir;
  }

  /** Starts anvil (state persisted across `anvil.stop()`/`anvil.start()`) and deploys the reference contract. */
  static async start(): Promise<ChainFixture> {
    const stateDir = await Deno.makeTempDir({ prefix: "chain_anvil_" });
    const anvil = await Anvil.start({ chainId: CHAIN_ID, stateFile: `${stateDir}/state.json` });
    try {
      const provider = new FailoverRpcProvider([anvil.url], { chainId: CHAIN_ID, timeoutMs: 5_000 });
      try {
        const contract = await deployReferenceContract(new Wallet(ANVIL_KEYS[0], provider));
        return new ChainFixture(anvil, contract.address, stateDir);
      } finally {
        provider.destroy();
      }
    } catch (error) {
      await anvil.stop();
      await Deno.remove(stateDir, { recursive: true });
      throw error;
    }
  }

  /** Settings for `privateKey` against this chain; `overrides` replace any field. */
  settings(privateKey: string, overrides: Partial<ChainSettings> = {}): ChainSettings {
    return {
      rpcUrls: [this.anvil.url],
      chainId: CHAIN_ID,
      rpcTimeoutMs: 2_000,
      contractAddress: this.contractAddress,
      key: { privateKey, allowInsecureKeyFileMode: false },
      caps: { maxFeePerGas: 50n * GWEI, maxPriorityFeePerGas: 2n * GWEI },
      heartbeatIntervalMs: 1_000,
      receiptTimeoutMs: 1_000,
      lowBalanceHeartbeats: 10,
      ...overrides,
    };
  }

  /** A fresh random key whose address holds `ether` (in wei) on this chain. */
  async freshKey(wei = 10n ** 18n): Promise<{ key: string; address: string }> {
    const wallet = Wallet.createRandom();
    if (wei > 0n) await this.anvil.rpc("anvil_setBalance", [wallet.address, `0x${wei.toString(16)}`]);
    return { key: wallet.privateKey, address: wallet.address };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.anvil.stop();
    await Deno.remove(this.stateDir, { recursive: true }).catch(() => {});
  }
}

/** A logger that keeps records in memory, and its writer. */
export function memoryLogger(): { logger: Logger; writer: MemoryWriter } {
  const writer = new MemoryWriter();
  return { logger: new Logger({ level: "debug", writer }), writer };
}
