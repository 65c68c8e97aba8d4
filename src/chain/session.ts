/** One verified connection to the chain: provider, wallet and contract, checked at start-up. */
import { getAddress } from "ethers";
import { type Config, ConfigError, type ConfigIssue } from "../config/mod.ts";
import { MIN_PRIORITY_FEE_BY_CHAIN } from "../config/vars/chain.ts";
import type { Logger } from "../log/mod.ts";
import { NodeReputation } from "./contract.ts";
import { ChainError, shortMessage } from "./errors.ts";
import type { FeeCaps } from "./fees.ts";
import { type AgentWallet, type KeySource, loadWallet } from "./key.ts";
import { FailoverRpcProvider } from "./provider.ts";
import { TxSender } from "./tx.ts";

/** Everything the chain component needs from configuration. */
export interface ChainSettings {
  rpcUrls: readonly string[];
  chainId: number;
  rpcTimeoutMs: number;
  contractAddress: string;
  key: KeySource;
  caps: FeeCaps;
  heartbeatIntervalMs: number;
  receiptTimeoutMs: number;
  lowBalanceHeartbeats: number;
}

/** Picks the chain settings out of the validated config. */
export function chainSettings(config: Config): ChainSettings {
  return {
    rpcUrls: config.rpcUrls,
    chainId: config.chainId,
    rpcTimeoutMs: config.rpcTimeout,
    contractAddress: config.reputationContract,
    key: {
      privateKey: config.privateKey,
      keystore: config.keystore,
      keystorePasswordFile: config.keystorePasswordFile,
      allowInsecureKeyFileMode: config.allowInsecureKeyFileMode,
    },
    caps: { maxFeePerGas: BigInt(config.maxFeePerGas), maxPriorityFeePerGas: BigInt(config.maxPriorityFeePerGas) },
    heartbeatIntervalMs: config.heartbeatInterval,
    receiptTimeoutMs: config.heartbeatReceiptTimeout,
    lowBalanceHeartbeats: config.lowBalanceHeartbeats,
  };
}

/** The problem with a tip cap (wei) below the known minimum tip of `chainId`, if there is one. */
export function tipCapIssue(chainId: number, tipCap: bigint | number): ConfigIssue | undefined {
  const floor = MIN_PRIORITY_FEE_BY_CHAIN[chainId];
  if (!floor || BigInt(tipCap) >= BigInt(floor.wei)) return undefined;
  return {
    variable: "MAX_PRIORITY_FEE_PER_GAS",
    value: `${tipCap}wei`,
    message: `is below the minimum tip of chain ${chainId} (${floor.chain}), ${floor.wei} wei: its nodes refuse ` +
      `every transaction with a lower tip, so no heartbeat would be sent. Raise it to at least ${floor.wei}wei`,
    example: "0.001gwei",
  };
}

/** Throws {@linkcode ConfigError} (exit 78) when `tipCap` (wei) is below the known minimum tip of `chainId`. */
export function checkTipCap(chainId: number, tipCap: bigint | number): void {
  const issue = tipCapIssue(chainId, tipCap);
  if (issue) throw new ConfigError([issue]);
}

/** A verified chain connection. Dispose it to stop the provider. */
export interface ChainSession extends AsyncDisposable {
  settings: ChainSettings;
  provider: FailoverRpcProvider;
  wallet: AgentWallet;
  /** The node's address, EIP-55 checksummed. */
  address: string;
  chainId: bigint;
  contract: NodeReputation;
  sender: TxSender;
  close(): void;
}

/**
 * Checks the tip cap against the chain's minimum ({@linkcode ConfigError}), loads the key, connects, and checks that
 * every reachable endpoint serves CHAIN_ID and that the contract has code. Throws {@linkcode ChainError} with a
 * message an operator can act on.
 */
export async function openChain(
  settings: ChainSettings,
  options: { logger?: Logger; wallet?: AgentWallet } = {},
): Promise<ChainSession> {
  // Before anything is sent: the chain's nodes would refuse every transaction.
  checkTipCap(settings.chainId, settings.caps.maxPriorityFeePerGas);
  const logger = options.logger;
  const provider = new FailoverRpcProvider(settings.rpcUrls, {
    chainId: settings.chainId,
    timeoutMs: settings.rpcTimeoutMs,
    logger,
  });
  try {
    // A wallet loaded earlier (the agent needs its address before the chain) is reused: keystores decrypt slowly.
    const wallet = options.wallet
      ? options.wallet.connect(provider)
      : await loadWallet(settings.key, { provider, logger });
    const chainId = await verifyEndpoints(provider, settings.chainId, logger);
    await verifyContract(provider, settings.contractAddress, chainId);
    const contract = new NodeReputation(getAddress(settings.contractAddress), wallet);
    const sender = new TxSender(wallet, provider, chainId, settings.caps);
    const close = () => provider.destroy();
    return {
      settings,
      provider,
      wallet,
      address: getAddress(wallet.address),
      chainId,
      contract,
      sender,
      close,
      [Symbol.asyncDispose]: () => Promise.resolve(close()),
    };
  } catch (error) {
    provider.destroy();
    throw error;
  }
}

/** Checks the chain id of every endpoint: a wrong one refuses to start; unreachable ones are only warned about. */
export async function verifyEndpoints(
  provider: FailoverRpcProvider,
  expected: number,
  logger?: Logger,
): Promise<bigint> {
  const checks = await provider.checkEndpoints();
  const wrong = checks.find((c) => c.chainId !== undefined && c.chainId !== BigInt(expected));
  if (wrong) {
    throw new ChainError(
      `Wrong chain: ${wrong.url} serves chain id ${wrong.chainId}, but CHAIN_ID is ${expected} ` +
        `(fix OPBNB_RPC_URL or CHAIN_ID)`,
    );
  }
  const dead = checks.filter((c) => c.chainId === undefined);
  if (dead.length === checks.length) {
    throw new ChainError(`No RPC endpoint answered (${dead.map((c) => `${c.url}: ${c.error}`).join("; ")})`, {
      unreachable: true,
    });
  }
  for (const c of dead) logger?.warn("RPC endpoint unreachable at start-up; will fail over past it", { ...c });
  return BigInt(expected);
}

/** Checks that `address` holds contract code on the connected chain. */
export async function verifyContract(provider: FailoverRpcProvider, address: string, chainId: bigint): Promise<void> {
  let code: string;
  try {
    code = await provider.getCode(address);
  } catch (error) {
    throw new ChainError(`Cannot read the code at ${address}: ${shortMessage(error)}`, { cause: error });
  }
  if (code === "0x") {
    throw new ChainError(
      `No contract code at REPUTATION_CONTRACT_ADDRESS ${address} on chain ${chainId}: wrong address, or wrong network`,
    );
  }
}
