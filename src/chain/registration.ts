/** Registration on NodeReputation: read first, send `registerNode` only when missing or when the GPU changed. */
import type { TransactionReceipt } from "ethers";
import { sleep } from "../timers.ts";
import type { Logger } from "../log/mod.ts";
import { ChainError, shortMessage } from "./errors.ts";
import { bumpFees, currentFees, type Fees } from "./fees.ts";
import type { ProviderRecord } from "./contract.ts";
import type { ChainSession } from "./session.ts";
import { type CallRequest, SendError, type SentTx, type TxSender } from "./tx.ts";

/** What the node registers: the GPU model string and the VRAM (MiB) one job can count on. */
export interface NodeSpec {
  gpuModel: string;
  vram: bigint;
}

/** What {@linkcode ensureRegistered} did. */
export interface RegistrationOutcome {
  /** `registered`: first time; `updated`: the GPU changed and the node registered again; `unchanged`: no transaction. */
  action: "registered" | "updated" | "unchanged";
  address: string;
  spec: NodeSpec;
  /** The on-chain record before, when the node was registered already. */
  previous?: NodeSpec;
  txHash?: string;
  blockNumber?: number;
}

/** Options of {@linkcode ensureRegistered}. */
export interface RegistrationOptions {
  logger?: Logger;
  signal?: AbortSignal;
  /** How long to wait for a receipt before replacing the transaction with higher fees (default 45 s). */
  receiptTimeoutMs?: number;
  /** Receipt polling period (default 1 s). */
  pollMs?: number;
  /** Sends at most this many versions (first + replacements) before giving up (default 5). */
  maxAttempts?: number;
}

/**
 * Makes sure the node is registered with `spec`. Idempotent: a second call with the same spec sends nothing.
 * A revert is decoded through the ABI into a {@linkcode ChainError}.
 */
export async function ensureRegistered(
  session: ChainSession,
  spec: NodeSpec,
  options: RegistrationOptions = {},
): Promise<RegistrationOutcome> {
  const { logger } = options;
  if (spec.gpuModel.trim() === "") throw new ChainError("Cannot register: the GPU model is empty");
  if (spec.vram < 0n) throw new ChainError("Cannot register: VRAM is negative");
  const current: ProviderRecord = await session.contract.provider(session.address);
  const previous = current.isRegistered ? { gpuModel: current.gpuModel, vram: current.vram } : undefined;
  if (previous && previous.gpuModel === spec.gpuModel && previous.vram === spec.vram) {
    logger?.info("Node already registered with this GPU; no transaction", {
      gpuModel: spec.gpuModel,
      vram: `${spec.vram}`,
    });
    return { action: "unchanged", address: session.address, spec, previous };
  }
  const action = previous ? "updated" : "registered";
  if (previous) {
    logger?.info("GPU changed since registration; registering again", {
      was: { gpuModel: previous.gpuModel, vram: `${previous.vram}` },
      now: { gpuModel: spec.gpuModel, vram: `${spec.vram}` },
    });
  }
  const what = previous ? "Re-registration (registerNode)" : "Registration (registerNode)";
  const call = await session.sender.prepare(
    session.contract.address,
    session.contract.encodeRegister(spec.gpuModel, spec.vram),
    what,
  );
  const receipt = await sendAndConfirm(session.sender, call, what, options);
  logger?.info(previous ? "Node re-registered" : "Node registered", {
    gpuModel: spec.gpuModel,
    vram: `${spec.vram}`,
    tx: receipt.hash,
    block: receipt.blockNumber,
  });
  return {
    action,
    address: session.address,
    spec,
    previous,
    txHash: receipt.hash,
    blockNumber: receipt.blockNumber,
  };
}

/**
 * Sends `call` and waits for it to be mined; a transaction unmined after the receipt timeout is replaced on the same
 * nonce with bumped fees (within the caps). A mined revert is explained through the ABI.
 */
export async function sendAndConfirm(
  sender: TxSender,
  call: CallRequest,
  what: string,
  options: RegistrationOptions = {},
): Promise<TransactionReceipt> {
  const { logger, signal } = options;
  const receiptTimeoutMs = options.receiptTimeoutMs ?? 45_000;
  const pollMs = options.pollMs ?? 1_000;
  const maxAttempts = options.maxAttempts ?? 5;
  const nonce = await sender.latestNonce();
  const sent: SentTx[] = [];
  let fees: Fees = await currentFees(sender.provider, sender.caps);
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    signal?.throwIfAborted();
    try {
      sent.push(await sender.send(call, nonce, fees));
    } catch (error) {
      // A leftover transaction on this nonce (e.g. from a previous run) pays more: outbid it.
      if (!(error instanceof SendError) || error.kind !== "underpriced") throw error;
      logger?.warn(`${what}: a pending transaction holds the nonce; bumping fees`, { nonce });
    }
    const deadline = Date.now() + receiptTimeoutMs;
    while (sent.length && Date.now() < deadline) {
      const receipt = await sender.findReceipt(sent.map((s) => s.hash));
      if (receipt) {
        if (receipt.status !== 1) throw await sender.explainRevert(call, what);
        return receipt;
      }
      if (await sender.latestNonce() > nonce) {
        // Mined through a hash we did not see: look once more, then give up on knowing which one.
        const late = await sender.findReceipt(sent.map((s) => s.hash));
        if (late?.status === 1) return late;
        throw new ChainError(`${what}: nonce ${nonce} was used by another transaction from this wallet`);
      }
      await sleep(pollMs, signal);
    }
    const bumped = bumpFees(fees, await currentFees(sender.provider, sender.caps), sender.caps);
    if (!bumped) break;
    logger?.warn(`${what}: not mined in time; replacing with higher fees`, { nonce, attempt });
    fees = bumped;
  }
  throw new ChainError(
    `${what} was not mined after ${sent.length} attempt(s) within MAX_FEE_PER_GAS ${sender.caps.maxFeePerGas} wei` +
      (sent.length ? ` (last tx ${sent[sent.length - 1].hash})` : ""),
  );
}

/** Describes an error in one line for logs and status output. */
export function describeError(error: unknown): string {
  return error instanceof Error && !("shortMessage" in error) ? error.message : shortMessage(error);
}
