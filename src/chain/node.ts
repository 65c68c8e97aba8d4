/** Bringing a node on chain: verified session, funds, registration, then the heartbeat loop in the background. */
import type { Logger } from "../log/mod.ts";
import { HeartbeatLoop, type HeartbeatOptions } from "./heartbeat.ts";
import { ensureRegistered, type NodeSpec, type RegistrationOutcome } from "./registration.ts";
import { type ChainSession, type ChainSettings, openChain } from "./session.ts";
import { assertFunded } from "./tx.ts";
import type { AgentWallet } from "./key.ts";

/** A node on chain: registered, heartbeats running until the signal given to {@linkcode startNode} aborts. */
export interface ChainNode extends AsyncDisposable {
  session: ChainSession;
  registration: RegistrationOutcome;
  heartbeat: HeartbeatLoop;
  /** Settles when the heartbeat loop has stopped (it never rejects). */
  done: Promise<void>;
}

/** Test-only and tuning knobs passed to the heartbeat loop. */
export type HeartbeatTuning = Partial<Omit<HeartbeatOptions, "logger" | "intervalMs" | "receiptTimeoutMs">>;

/**
 * Opens the chain (key, chain id, contract code), refuses an empty wallet naming the address to fund, registers
 * (or not, when already registered with `spec`), and starts heartbeats. Throws {@linkcode ChainError} before the loop
 * starts; after that, failures only show in logs and in `heartbeat.state`.
 */
export async function startNode(
  settings: ChainSettings,
  spec: NodeSpec,
  options: { logger: Logger; signal: AbortSignal; tuning?: HeartbeatTuning; wallet?: AgentWallet },
): Promise<ChainNode> {
  const logger = options.logger.child({ component: "chain" });
  const session = await openChain(settings, { logger, wallet: options.wallet });
  try {
    await assertFunded(session.provider, session.address, session.chainId);
    const registration = await ensureRegistered(session, spec, {
      logger,
      signal: options.signal,
      receiptTimeoutMs: settings.receiptTimeoutMs,
    });
    const heartbeat = new HeartbeatLoop(session, {
      intervalMs: settings.heartbeatIntervalMs,
      receiptTimeoutMs: settings.receiptTimeoutMs,
      lowBalanceHeartbeats: settings.lowBalanceHeartbeats,
      logger,
      ...options.tuning,
    });
    const done = heartbeat.run(options.signal);
    return {
      session,
      registration,
      heartbeat,
      done,
      async [Symbol.asyncDispose]() {
        await done;
        session.close();
      },
    };
  } catch (error) {
    session.close();
    throw error;
  }
}
