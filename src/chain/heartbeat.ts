/** The heartbeat loop: one `sendHeartbeat` at a time, stuck ones replaced with higher fees, never throws out. */
import { formatEther, type TransactionReceipt } from "ethers";
import { formatDuration } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { MIN_HEARTBEAT_INTERVAL_MS } from "../config/vars/chain.ts";
import { ChainError } from "./errors.ts";
import { bumpFees, currentFees, type Fees, type TxCost } from "./fees.ts";
import { describeError } from "./registration.ts";
import { backoffDelay, sleep } from "../timers.ts";
import type { ChainSession } from "./session.ts";
import { type CallRequest, SendError, type SentTx } from "./tx.ts";
import { heartbeatsPaid } from "./heartbeat_cost.ts";

/** What the loop has done so far; a snapshot is handed out, never the live object. */
export interface HeartbeatState {
  running: boolean;
  /** When the last heartbeat was seen mined. */
  lastHeartbeatAt?: Date;
  lastTxHash?: string;
  /** Heartbeats mined. */
  txCount: number;
  /** Transactions broadcast, replacements included. */
  sent: number;
  /** Replacements of a stuck heartbeat (same nonce, higher fees). */
  replacements: number;
  /** Failed loop steps (RPC errors, refused sends, reverts). */
  failures: number;
  consecutiveFailures: number;
  lastError?: string;
  /** Wallet balance in wei, read after each mined heartbeat. */
  balance?: bigint;
  /** The most the last heartbeat could cost (gas limit at its fee cap, plus the chain's L1 data fee), in wei. */
  heartbeatCost?: TxCost;
  /** The heartbeat waiting to be mined, if any. */
  pending?: { nonce: number; hashes: string[]; sentAt: Date };
}

/** Options of {@linkcode HeartbeatLoop}. */
export interface HeartbeatOptions {
  /** Time between heartbeats (HEARTBEAT_INTERVAL). */
  intervalMs: number;
  /** A heartbeat unmined for this long is stuck, and replaced when the next one is due. */
  receiptTimeoutMs: number;
  /** Warn when the balance pays for fewer heartbeats than this (0: never). */
  lowBalanceHeartbeats: number;
  logger: Logger;
  /** Fraction of the interval taken off at random so a fleet does not beat in step (default 0.1). */
  jitter?: number;
  /** Lowest accepted interval; only tests go below the operator minimum. */
  minIntervalMs?: number;
  /** Receipt polling period while a heartbeat is pending (default: interval/10, within 200 ms..2 s). */
  pollMs?: number;
  /** Capped exponential backoff after a failed step ({@linkcode backoffDelay}; defaults 1 s .. 60 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Called after every step with a fresh snapshot. */
  onState?: (state: HeartbeatState) => void;
  random?: () => number;
}

interface Pending {
  nonce: number;
  sent: SentTx[];
  fees: Fees;
  lastSentAt: number;
  stuckLogged: boolean;
}

const LOW_BALANCE_REPEAT_MS = 10 * 60_000;

/** Sends heartbeats for a registered node until its signal aborts. */
export class HeartbeatLoop {
  readonly #session: Pick<ChainSession, "address" | "contract" | "sender" | "provider">;
  readonly #opts: Required<Omit<HeartbeatOptions, "onState" | "backoff">> & Pick<HeartbeatOptions, "onState">;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #log: Logger;
  #state: HeartbeatState = {
    running: false,
    txCount: 0,
    sent: 0,
    replacements: 0,
    failures: 0,
    consecutiveFailures: 0,
  };
  #pending?: Pending;
  #nonce?: number;
  #call?: CallRequest;
  #nextDueAt = 0;
  #escalated?: Fees;
  #lowBalanceWarnedAt = -Infinity;

  constructor(session: Pick<ChainSession, "address" | "contract" | "sender" | "provider">, options: HeartbeatOptions) {
    const minInterval = options.minIntervalMs ?? MIN_HEARTBEAT_INTERVAL_MS;
    if (options.intervalMs < minInterval) {
      throw new ChainError(`Heartbeat interval ${options.intervalMs} ms is below the minimum ${minInterval} ms`);
    }
    this.#session = session;
    this.#opts = {
      jitter: 0.1,
      minIntervalMs: minInterval,
      pollMs: Math.min(2_000, Math.max(200, Math.floor(options.intervalMs / 10))),
      random: Math.random,
      ...options,
    };
    this.#backoff = { initialMs: 1_000, maxMs: 60_000, ...options.backoff };
    this.#log = options.logger.child({ component: "heartbeat", address: session.address });
  }

  /** A snapshot of the loop's state. */
  get state(): HeartbeatState {
    const s = this.#state;
    const p = this.#pending;
    return {
      ...s,
      pending: p && { nonce: p.nonce, hashes: p.sent.map((x) => x.hash), sentAt: new Date(p.sent[0]?.sentAt ?? 0) },
    };
  }

  /** Runs until `signal` aborts; the first heartbeat goes out at once. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    this.#state.running = true;
    this.#log.info("Heartbeat loop started", { interval: formatDuration(this.#opts.intervalMs) });
    while (!signal.aborted) {
      let delay: number;
      try {
        delay = await this.#tick();
        this.#state.consecutiveFailures = 0;
      } catch (error) {
        this.#state.failures++;
        const n = ++this.#state.consecutiveFailures;
        this.#state.lastError = describeError(error);
        delay = backoffDelay(n - 1, this.#backoff.initialMs, this.#backoff.maxMs, this.#opts.random);
        // Funds and the tip cap are the operator's to fix; the rest may pass by itself.
        const level = error instanceof SendError && (error.kind === "funds" || error.kind === "tip") ? "error" : "warn";
        this.#log.log(level, "Heartbeat step failed; retrying", {
          error: this.#state.lastError,
          consecutiveFailures: n,
          retryInMs: delay,
        });
      }
      this.#emit();
      try {
        await sleep(Math.max(0, delay), signal);
      } catch {
        break;
      }
    }
    this.#state.running = false;
    this.#emit();
    this.#log.info("Heartbeat loop stopped", { txCount: this.#state.txCount });
  }

  /** One step; returns how long to wait before the next one. */
  async #tick(): Promise<number> {
    const now = Date.now();
    const p = this.#pending;
    if (!p) {
      if (now < this.#nextDueAt) return this.#nextDueAt - now;
      await this.#sendNew();
      return this.#opts.pollMs;
    }
    const { sender } = this.#session;
    const receipt = await sender.findReceipt(p.sent.map((s) => s.hash));
    if (receipt) return await this.#settle(p, receipt);
    if (await sender.latestNonce() > p.nonce) {
      const late = await sender.findReceipt(p.sent.map((s) => s.hash));
      if (late) return await this.#settle(p, late);
      // Something else from this wallet took the nonce (another process with the same key?): start afresh.
      this.#log.warn("Heartbeat nonce was used by another transaction from this wallet", { nonce: p.nonce });
      this.#pending = undefined;
      this.#nonce = undefined;
      return 0;
    }
    const stuckAt = p.lastSentAt + this.#opts.receiptTimeoutMs;
    if (now >= stuckAt && !p.stuckLogged) {
      p.stuckLogged = true;
      this.#log.warn("Heartbeat not mined in time", { nonce: p.nonce, tx: p.sent.at(-1)!.hash });
    }
    if (now >= stuckAt && now >= this.#nextDueAt) await this.#replace(p);
    return this.#opts.pollMs;
  }

  async #sendNew(): Promise<void> {
    const { sender, contract } = this.#session;
    this.#call ??= await sender.prepare(contract.address, contract.encodeHeartbeat(), "Heartbeat (sendHeartbeat)");
    const nonce = this.#nonce ?? await sender.latestNonce();
    const market = await currentFees(sender.provider, sender.caps);
    // After an "underpriced" refusal, outbid the unknown transaction holding our nonce (e.g. left by a previous run).
    const fees = this.#escalated ? (bumpFees(this.#escalated, market, sender.caps) ?? this.#escalated) : market;
    let sent: SentTx;
    try {
      sent = await sender.send(this.#call, nonce, fees);
    } catch (error) {
      this.#nonce = undefined;
      this.#escalated = error instanceof SendError && error.kind === "underpriced" ? fees : undefined;
      throw error;
    }
    this.#escalated = undefined;
    this.#nonce = nonce;
    this.#pending = { nonce, sent: [sent], fees, lastSentAt: sent.sentAt, stuckLogged: false };
    this.#nextDueAt = sent.sentAt + this.#interval();
    this.#state.sent++;
    this.#log.debug("Heartbeat sent", { nonce, tx: sent.hash });
  }

  async #replace(p: Pending): Promise<void> {
    const { sender } = this.#session;
    this.#nextDueAt = Date.now() + this.#interval();
    const bumped = bumpFees(p.fees, await currentFees(sender.provider, sender.caps), sender.caps);
    if (!bumped) {
      this.#log.warn("Stuck heartbeat cannot be bumped: MAX_FEE_PER_GAS reached; waiting", { nonce: p.nonce });
      return;
    }
    let sent: SentTx;
    try {
      sent = await sender.send(this.#call!, p.nonce, bumped);
    } catch (error) {
      // The pending entry stays: its receipt, or a moved nonce, is found by the next step.
      this.#nonce = undefined;
      throw error;
    }
    p.sent.push(sent);
    p.fees = bumped;
    p.lastSentAt = sent.sentAt;
    p.stuckLogged = false;
    this.#state.sent++;
    this.#state.replacements++;
    this.#log.warn("Stuck heartbeat replaced with higher fees", {
      nonce: p.nonce,
      tx: sent.hash,
      maxFeePerGas: `${bumped.type === 2 ? bumped.maxFeePerGas : bumped.gasPrice}`,
    });
  }

  async #settle(p: Pending, receipt: TransactionReceipt): Promise<number> {
    this.#pending = undefined;
    this.#nonce = p.nonce + 1;
    if (receipt.status !== 1) throw await this.#session.sender.explainRevert(this.#call!, "Heartbeat");
    this.#state.txCount++;
    this.#state.lastHeartbeatAt = new Date();
    this.#state.lastTxHash = receipt.hash;
    // The first one says the node is online; routine ones are debug (problems are warnings of their own).
    this.#log.log(this.#state.txCount === 1 ? "info" : "debug", "Heartbeat mined", {
      tx: receipt.hash,
      block: receipt.blockNumber,
      nonce: p.nonce,
    });
    // The L1 data fee is read for the heartbeat just mined: one eth_call per interval, on chains that charge one.
    await this.#checkBalance(await this.#session.sender.cost(this.#call!, p.nonce, p.fees));
    return Math.max(0, this.#nextDueAt - Date.now());
  }

  async #checkBalance(cost: TxCost): Promise<void> {
    const { provider, address } = this.#session;
    const balance = await provider.getBalance(address);
    this.#state.balance = balance;
    this.#state.heartbeatCost = cost;
    const perHeartbeat = cost.total;
    const wanted = perHeartbeat * BigInt(this.#opts.lowBalanceHeartbeats);
    if (balance >= wanted) {
      this.#lowBalanceWarnedAt = -Infinity;
      return;
    }
    if (Date.now() - this.#lowBalanceWarnedAt < LOW_BALANCE_REPEAT_MS) return;
    this.#lowBalanceWarnedAt = Date.now();
    this.#log.warn(`Low balance: send BNB to ${address}`, {
      balance: formatEther(balance),
      heartbeatsLeft: `${heartbeatsPaid(balance, cost)}`,
      perHeartbeat: formatEther(perHeartbeat),
      l1Fee: formatEther(cost.l1),
      threshold: this.#opts.lowBalanceHeartbeats,
    });
  }

  #interval(): number {
    return Math.round(this.#opts.intervalMs * (1 - this.#opts.jitter * this.#opts.random()));
  }

  #emit(): void {
    this.#opts.onState?.(this.state);
  }
}
