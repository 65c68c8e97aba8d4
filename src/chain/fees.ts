/** Transaction fees: explicit caps from config, never a library's fallback tip; bumping for replacements. */
import { formatUnits, type Provider } from "ethers";
import { ChainError } from "./errors.ts";

/** Operator fee caps, in wei. */
export interface FeeCaps {
  /** Hard cap on the fee per gas (EIP-1559 max fee, or legacy gas price), bumps included. */
  maxFeePerGas: bigint;
  /** Cap on the initial tip; the node's suggestion is used when lower. */
  maxPriorityFeePerGas: bigint;
}

/** Fees of one transaction. */
export type Fees =
  | { type: 2; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  | { type: 0; gasPrice: bigint };

/** What one transaction may cost, in wei: its gas limit at its fee cap (L2), and the L1 data fee (0 where none). */
export interface TxCost {
  l2: bigint;
  l1: bigint;
  total: bigint;
}

/** Shows wei as gwei for messages. */
export function gwei(wei: bigint): string {
  return `${formatUnits(wei, "gwei")} gwei`;
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** Fees for a new transaction now: EIP-1559 when the chain has a base fee, legacy otherwise; always within `caps`. */
export async function currentFees(provider: Provider, caps: FeeCaps): Promise<Fees> {
  const block = await provider.getBlock("latest");
  if (!block) throw new ChainError("Cannot read the latest block to price a transaction");
  const base = block.baseFeePerGas;
  if (base === null) {
    const price = BigInt(await rpc(provider, "eth_gasPrice") ?? caps.maxFeePerGas);
    return { type: 0, gasPrice: min(price, caps.maxFeePerGas) };
  }
  if (base > caps.maxFeePerGas) {
    throw new ChainError(
      `The base fee ${gwei(base)} is above MAX_FEE_PER_GAS ${gwei(caps.maxFeePerGas)}: ` +
        `no transaction can be mined until it drops, or MAX_FEE_PER_GAS is raised`,
    );
  }
  // The node's own suggestion when it has one; otherwise the operator's cap, not ethers' blind 1 gwei fallback.
  const suggested = await rpc(provider, "eth_maxPriorityFeePerGas");
  const tipWanted = min(
    suggested === undefined ? caps.maxPriorityFeePerGas : BigInt(suggested),
    caps.maxPriorityFeePerGas,
  );
  const maxFee = min(base * 2n + tipWanted, caps.maxFeePerGas);
  return { type: 2, maxFeePerGas: maxFee, maxPriorityFeePerGas: min(tipWanted, maxFee - base) };
}

/**
 * Fees for replacing a transaction sent with `old`: +`percent`% on every component (at least +1 wei, and at least
 * the `current` market), capped at `caps.maxFeePerGas`. Undefined when the cap leaves no room for a valid bump.
 */
export function bumpFees(old: Fees, current: Fees, caps: FeeCaps, percent = 25n): Fees | undefined {
  const up = (v: bigint) => max((v * (100n + percent)) / 100n, v + 1n);
  if (old.type === 0) {
    const price = min(
      max(up(old.gasPrice), current.type === 0 ? current.gasPrice : current.maxFeePerGas),
      caps.maxFeePerGas,
    );
    return price > old.gasPrice ? { type: 0, gasPrice: price } : undefined;
  }
  const cur = current.type === 2 ? current : { maxFeePerGas: current.gasPrice, maxPriorityFeePerGas: 0n };
  const maxFee = min(max(up(old.maxFeePerGas), cur.maxFeePerGas), caps.maxFeePerGas);
  const tip = min(max(up(old.maxPriorityFeePerGas), cur.maxPriorityFeePerGas), maxFee);
  if (maxFee <= old.maxFeePerGas || tip <= old.maxPriorityFeePerGas) return undefined;
  return { type: 2, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip };
}

/** The most a transaction with `gasLimit` can cost at `fees`. */
export function maxCost(fees: Fees, gasLimit: bigint): bigint {
  return gasLimit * (fees.type === 2 ? fees.maxFeePerGas : fees.gasPrice);
}

// Optional RPC methods: undefined when the node does not support them (the caller falls back to a cap).
async function rpc(provider: Provider, method: string): Promise<string | undefined> {
  const send = (provider as { send?: (m: string, p: unknown[]) => Promise<unknown> }).send;
  if (!send) return undefined;
  try {
    const value = await send.call(provider, method, []);
    return typeof value === "string" ? value : undefined;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (
      code === "UNSUPPORTED_OPERATION" ||
      (code === "UNKNOWN_ERROR" && /not (found|supported)|unknown/i.test(String(error)))
    ) {
      return undefined;
    }
    throw error;
  }
}
