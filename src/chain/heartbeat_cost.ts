/** What one heartbeat costs, L1 data fee included: the number behind the low-balance warning, `status` and `doctor`. */
import { formatEther, type Provider } from "ethers";
import { ChainError } from "./errors.ts";
import { currentFees, type FeeCaps, type Fees, type TxCost } from "./fees.ts";
import { NODE_REPUTATION_INTERFACE } from "./contract.ts";
import type { L1FeeOracle } from "./l1_fee.ts";
import { buildTransaction, prepareCall, txCost } from "./tx.ts";

/** What {@linkcode heartbeatCost} reads the chain with. */
export interface HeartbeatCostInputs {
  provider: Provider;
  /** The node's address (the heartbeat's sender). */
  address: string;
  contractAddress: string;
  chainId: bigint;
  caps: FeeCaps;
  l1Fees: L1FeeOracle;
}

/**
 * The most a heartbeat sent now can cost: `sendHeartbeat`'s gas (+20%, as sent) at the fees the loop would use, plus
 * the L1 data fee of that transaction. Undefined while the node is not registered: the call reverts, so its gas
 * cannot be estimated.
 */
export async function heartbeatCost(inputs: HeartbeatCostInputs): Promise<TxCost | undefined> {
  const { provider, address, caps } = inputs;
  let call;
  try {
    call = await prepareCall(provider, address, {
      to: inputs.contractAddress,
      data: NODE_REPUTATION_INTERFACE.encodeFunctionData("sendHeartbeat", []),
      what: "Heartbeat (sendHeartbeat)",
    });
  } catch (error) {
    if (error instanceof ChainError && error.revert) return undefined;
    throw error;
  }
  let fees: Fees;
  try {
    fees = await currentFees(provider, caps);
  } catch (error) {
    // A base fee above MAX_FEE_PER_GAS: the loop waits for it to drop; a heartbeat then costs at most the cap.
    if (!(error instanceof ChainError)) throw error;
    fees = { type: 2, maxFeePerGas: caps.maxFeePerGas, maxPriorityFeePerGas: caps.maxPriorityFeePerGas };
  }
  const nonce = await provider.getTransactionCount(address, "latest");
  return await txCost(buildTransaction(call, nonce, inputs.chainId, fees), inputs.l1Fees);
}

/** How many heartbeats `balance` pays for at `cost` each. */
export function heartbeatsPaid(balance: bigint, cost: TxCost): bigint {
  return cost.total > 0n ? balance / cost.total : 0n;
}

/** How many heartbeats `balance` pays for, in words, and whether that is below `threshold` (LOW_BALANCE_HEARTBEATS). */
export async function heartbeatBudget(
  inputs: HeartbeatCostInputs,
  options: { balance: bigint; threshold: number },
): Promise<{ text: string; low: boolean }> {
  const cost = await heartbeatCost(inputs);
  if (!cost) return { text: "heartbeat cost known once the node is registered", low: false };
  const paid = heartbeatsPaid(options.balance, cost);
  const each = `at most ${formatEther(cost.total)} BNB each` +
    (cost.l1 > 0n ? `, L1 data fee ${formatEther(cost.l1)} BNB included` : "");
  return { text: `pays for ${paid} heartbeats (${each})`, low: paid < BigInt(options.threshold) };
}
