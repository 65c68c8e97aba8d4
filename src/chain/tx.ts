/** Signing and broadcasting contract calls with explicit nonce, gas and fees; receipts; funding checks. */
import { type Provider, Transaction, type TransactionReceipt } from "ethers";
import { ChainError, chainError, shortMessage } from "./errors.ts";
import { type FeeCaps, type Fees, gwei, maxCost, type TxCost } from "./fees.ts";
import type { AgentWallet } from "./key.ts";
import { NODE_REPUTATION_INTERFACE } from "./contract.ts";
import { L1FeeOracle } from "./l1_fee.ts";

/** A contract call ready to sign. */
export interface CallRequest {
  to: string;
  data: string;
  gasLimit: bigint;
}

/** One signed and broadcast transaction. */
export interface SentTx {
  hash: string;
  nonce: number;
  fees: Fees;
  sentAt: number;
}

/** Why a send failed, for the caller's next step (`tip`: below the node's minimum tip, a setting to raise). */
export type SendFailure = "underpriced" | "tip" | "nonce" | "funds" | "other";

/** A broadcast was refused; `kind` says whether to bump fees, re-sync the nonce, ask for funds or fix the tip cap. */
export class SendError extends ChainError {
  override name = "SendError";
  readonly kind: SendFailure;
  constructor(message: string, kind: SendFailure, cause: unknown) {
    super(message, { cause });
    this.kind = kind;
  }
}

/** Estimates gas for a call from `from` (+20% headroom); a revert is decoded through the NodeReputation ABI. */
export async function prepareCall(
  provider: Provider,
  from: string,
  call: { to: string; data: string; what: string },
): Promise<CallRequest> {
  const { to, data, what } = call;
  let gas: bigint;
  try {
    gas = await provider.estimateGas({ from, to, data });
  } catch (error) {
    throw chainError(`${what} would fail`, error, NODE_REPUTATION_INTERFACE);
  }
  return { to, data, gasLimit: (gas * 120n) / 100n };
}

/** The unsigned transaction of `call` with `nonce` and `fees`: what is signed, and what the L1 fee is asked for. */
export function buildTransaction(call: CallRequest, nonce: number, chainId: bigint, fees: Fees): Transaction {
  return Transaction.from({
    to: call.to,
    data: call.data,
    gasLimit: call.gasLimit,
    nonce,
    chainId,
    value: 0n,
    ...(fees.type === 2
      ? { type: 2, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas }
      : { type: 0, gasPrice: fees.gasPrice }),
  });
}

/** The most `tx` can cost: its gas limit at its fee cap, plus the L1 data fee the chain charges for its bytes. */
export async function txCost(tx: Transaction, l1Fees: L1FeeOracle): Promise<TxCost> {
  const l2 = tx.gasLimit * (tx.maxFeePerGas ?? tx.gasPrice ?? 0n);
  const l1 = await l1Fees.fee(tx.unsignedSerialized);
  return { l2, l1, total: l2 + l1 };
}

/** Signs and sends contract calls for one wallet; all fee and nonce choices are the caller's. */
export class TxSender {
  readonly wallet: AgentWallet;
  readonly provider: Provider;
  readonly chainId: bigint;
  readonly caps: FeeCaps;
  /** The chain's L1 data fee (OP-Stack GasPriceOracle); whether it exists is read once per sender. */
  readonly l1Fees: L1FeeOracle;

  constructor(wallet: AgentWallet, provider: Provider, chainId: bigint, caps: FeeCaps) {
    this.wallet = wallet;
    this.provider = provider;
    this.chainId = chainId;
    this.caps = caps;
    this.l1Fees = new L1FeeOracle(provider);
  }

  /** Estimates gas for a call (+20% headroom); a revert is decoded through the NodeReputation ABI. */
  async prepare(to: string, data: string, what: string): Promise<CallRequest> {
    return await prepareCall(this.provider, this.wallet.address, { to, data, what });
  }

  /** The most `call` sent with `nonce` and `fees` can cost, the L1 data fee included (one `eth_call` where it exists). */
  async cost(call: CallRequest, nonce: number, fees: Fees): Promise<TxCost> {
    return await txCost(buildTransaction(call, nonce, this.chainId, fees), this.l1Fees);
  }

  /** The next nonce by mined transactions only: a stuck transaction's nonce is reused (replaced), never stacked upon. */
  async latestNonce(): Promise<number> {
    return await this.provider.getTransactionCount(this.wallet.address, "latest");
  }

  /** Signs and broadcasts `call` with `nonce` and `fees`; throws {@linkcode SendError} when refused. */
  async send(call: CallRequest, nonce: number, fees: Fees): Promise<SentTx> {
    const cost = maxCost(fees, call.gasLimit);
    if ((fees.type === 2 ? fees.maxFeePerGas : fees.gasPrice) > this.caps.maxFeePerGas) {
      throw new ChainError("Refusing to send a transaction above MAX_FEE_PER_GAS");
    }
    const signed = await this.wallet.signTransaction(buildTransaction(call, nonce, this.chainId, fees));
    const hash = Transaction.from(signed).hash!;
    try {
      await this.provider.broadcastTransaction(signed);
    } catch (error) {
      // The node's own words: ethers keeps them in `error` (uncoalesced answers) or `info`.
      const e = error as { info?: unknown; error?: unknown };
      const text = `${shortMessage(error)} ${JSON.stringify(e.error ?? "")} ${JSON.stringify(e.info ?? "")}`;
      // The same bytes reached the node before (e.g. through another endpoint): it is pending, all is well.
      if (/already known|already imported|known transaction/i.test(text)) {
        return { hash, nonce, fees, sentAt: Date.now() };
      }
      const code = (error as { code?: string }).code;
      if (code === "INSUFFICIENT_FUNDS") {
        throw new SendError(
          `The node wallet ${this.wallet.address} cannot pay up to ${cost} wei for gas: send BNB to ${this.wallet.address}`,
          "funds",
          error,
        );
      }
      // geth's txpool floor (opBNB, BSC): "… gas tip cap 1000, minimum needed 1001". Bumping by 25% would crawl
      // there one refusal at a time; the operator's tip cap is what is wrong.
      const floor = /gas tip cap (\d+), minimum needed (\d+)/i.exec(text);
      if (floor) {
        throw new SendError(
          `The RPC node refuses tips below ${gwei(BigInt(floor[2]))} (this transaction: ${gwei(BigInt(floor[1]))}): ` +
            `raise MAX_PRIORITY_FEE_PER_GAS to at least ${floor[2]}wei`,
          "tip",
          error,
        );
      }
      if (code === "REPLACEMENT_UNDERPRICED" || /underpriced/i.test(text)) {
        throw new SendError(
          "A pending transaction with the same nonce pays more: fees must be bumped",
          "underpriced",
          error,
        );
      }
      if (code === "NONCE_EXPIRED" || /nonce/i.test(text)) {
        throw new SendError(`Nonce ${nonce} was refused (${shortMessage(error)})`, "nonce", error);
      }
      throw new SendError(`Cannot broadcast the transaction: ${shortMessage(error)}`, "other", error);
    }
    return { hash, nonce, fees, sentAt: Date.now() };
  }

  /** The receipt of the first of `hashes` that is mined, if any. */
  async findReceipt(hashes: readonly string[]): Promise<TransactionReceipt | undefined> {
    for (const hash of [...hashes].reverse()) {
      const receipt = await this.provider.getTransactionReceipt(hash);
      if (receipt) return receipt;
    }
    return undefined;
  }

  /** Explains a mined-but-reverted call by replaying it at the latest block; returns a {@linkcode ChainError}. */
  async explainRevert(call: CallRequest, what: string): Promise<ChainError> {
    try {
      await this.provider.call({ from: this.wallet.address, to: call.to, data: call.data });
    } catch (error) {
      return chainError(`${what} reverted on chain`, error, NODE_REPUTATION_INTERFACE);
    }
    return new ChainError(`${what} reverted on chain (the call succeeds now: it was probably a race)`);
  }
}

/** Throws a {@linkcode ChainError} naming the address to fund when the wallet holds nothing. Returns the balance. */
export async function assertFunded(provider: Provider, address: string, chainId: bigint): Promise<bigint> {
  const balance = await provider.getBalance(address);
  if (balance === 0n) {
    throw new ChainError(
      `The node wallet ${address} has no funds on chain ${chainId}: send BNB to ${address} ` +
        `to pay for registration and heartbeats`,
    );
  }
  return balance;
}
