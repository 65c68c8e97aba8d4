/** CLI commands of the chain component: `register` (one-shot) and `status`. */
import { formatEther } from "ethers";
import type { Command, CommandContext } from "../command.ts";
import { ChainError } from "./errors.ts";
import { heartbeatCost, heartbeatsPaid } from "./heartbeat_cost.ts";
import { ensureRegistered, type NodeSpec } from "./registration.ts";
import { chainSettings, openChain } from "./session.ts";
import { assertFunded } from "./tx.ts";

/** Finds the node's GPU model and VRAM when `--gpu-model`/`--vram` are not given (injected by the CLI wiring). */
export type DetectNodeSpec = (signal: AbortSignal) => Promise<NodeSpec>;

/** Builds the `register` command; without `detect`, `--gpu-model` and `--vram` are required. */
export function createRegisterCommand(detect?: DetectNodeSpec): Command {
  return {
    name: "register",
    summary: "register this node on NodeReputation (no transaction when already registered with the same GPU)",
    description: "Reads providers(address) first: registers when missing, registers again when the GPU changed.\n" +
      "Without --gpu-model/--vram the GPUs are detected.",
    options: {
      "gpu-model": { type: "string", description: "GPU model string to register", placeholder: "MODEL" },
      vram: { type: "string", description: "VRAM in MiB to register", placeholder: "MIB" },
      json: { type: "boolean", description: "Print the outcome as JSON" },
    },
    run: (ctx) =>
      guarded(ctx, async () => {
        const spec = await specFrom(ctx, detect);
        const settings = chainSettings(ctx.loaded.config);
        await using session = await openChain(settings, { logger: ctx.logger });
        await assertFunded(session.provider, session.address, session.chainId);
        const outcome = await ensureRegistered(session, spec, {
          logger: ctx.logger,
          signal: ctx.signal,
          receiptTimeoutMs: settings.receiptTimeoutMs,
        });
        if (ctx.options.json) {
          ctx.print(JSON.stringify(outcome, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
        } else {
          const what = {
            registered: "Registered",
            updated: "Registered again (GPU changed)",
            unchanged: "Already registered",
          };
          ctx.print(
            `${what[outcome.action]}: ${outcome.address} — ${spec.gpuModel}, ${spec.vram} MiB` +
              (outcome.txHash ? ` (tx ${outcome.txHash})` : ""),
          );
        }
        return 0;
      }),
  };
}

/** `lamda-node-agent register` with `--gpu-model`/`--vram` required (the CLI may build one with detection instead). */
export const registerCommand: Command = createRegisterCommand();

/**
 * `lamda-node-agent status`: the node's on-chain record, activity, job count and wallet balance. The job count is the
 * contract's own (`getProviderInfo` → `successfulJobsCount`), which the network's owner raises with `incrementJobs`;
 * the agent never writes it.
 */
export const statusCommand: Command = {
  name: "status",
  summary: "show this node's on-chain registration, last heartbeat, job count, balance and heartbeats it pays for",
  description: "Reads providers/getProviderInfo and isProviderActive from NodeReputation and the balance from the " +
    "RPC endpoint. \"jobs done\" is the contract's count of the node's successful jobs, raised by the network " +
    '(incrementJobs, owner only), not by the agent. "heartbeats" is how many the balance pays for at the fees a ' +
    "heartbeat is sent with now, the L1 data fee included on OP-Stack chains such as opBNB.",
  options: { json: { type: "boolean", description: "Print as JSON" } },
  run: (ctx) =>
    guarded(ctx, async () => {
      await using session = await openChain(chainSettings(ctx.loaded.config), { logger: ctx.logger });
      const [{ provider, jobCount }, active, balance, cost] = await Promise.all([
        session.contract.providerInfo(session.address),
        session.contract.isActive(session.address),
        session.provider.getBalance(session.address),
        heartbeatCost({
          provider: session.provider,
          address: session.address,
          contractAddress: session.contract.address,
          chainId: session.chainId,
          caps: session.sender.caps,
          l1Fees: session.sender.l1Fees,
        }),
      ]);
      const lastSeen = provider.lastSeen > 0n ? new Date(Number(provider.lastSeen) * 1000).toISOString() : null;
      const status = {
        address: session.address,
        chainId: Number(session.chainId),
        contract: session.contract.address,
        registered: provider.isRegistered,
        gpuModel: provider.gpuModel,
        vram: provider.vram.toString(),
        lastSeen,
        active,
        jobCount: jobCount.toString(),
        balance: formatEther(balance),
        // Null while unregistered: sendHeartbeat reverts then, so its gas cannot be estimated.
        heartbeatCost: cost ? formatEther(cost.total) : null,
        heartbeatL1Fee: cost ? formatEther(cost.l1) : null,
        heartbeatsLeft: cost ? heartbeatsPaid(balance, cost).toString() : null,
      };
      if (ctx.options.json) {
        ctx.print(JSON.stringify(status));
        return 0;
      }
      const rows: [string, string][] = [
        ["address", status.address],
        ["chain", `${status.chainId}`],
        ["contract", status.contract],
        ["registered", status.registered ? "yes" : "no"],
        ["gpu model", status.gpuModel || "-"],
        ["vram", status.registered ? `${status.vram} MiB` : "-"],
        ["last seen", lastSeen ?? "never"],
        ["active", active ? "yes" : "no"],
        ["jobs done", status.jobCount],
        ["balance", `${status.balance} BNB`],
        [
          "heartbeats",
          cost
            ? `${status.heartbeatsLeft} paid (at most ${status.heartbeatCost} BNB each, ` +
              (cost.l1 > 0n ? `L1 data fee ${status.heartbeatL1Fee} BNB included)` : "no L1 data fee on this chain)")
            : "- (not registered: the cost of a heartbeat is known once it is)",
        ],
      ];
      for (const [k, v] of rows) ctx.print(`${k.padEnd(11)} ${v}`);
      return 0;
    }),
};

async function specFrom(ctx: CommandContext, detect?: DetectNodeSpec): Promise<NodeSpec> {
  const model = ctx.options["gpu-model"];
  const vram = ctx.options.vram;
  if (typeof model === "string" || typeof vram === "string") {
    if (typeof model !== "string" || model.trim() === "") throw new ChainError("--gpu-model is required with --vram");
    if (typeof vram !== "string" || !/^\d+$/.test(vram.trim())) {
      throw new ChainError("--vram must be a whole number of MiB (e.g. --vram 81559)");
    }
    return { gpuModel: model.trim(), vram: BigInt(vram.trim()) };
  }
  if (!detect) throw new ChainError("Give the GPU to register: --gpu-model MODEL --vram MIB");
  return await detect(ctx.signal);
}

// Chain errors are the operator's to fix: print them plainly with exit code 1; anything else is a bug and propagates.
async function guarded(ctx: CommandContext, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (!(error instanceof ChainError)) throw error;
    ctx.logger.error(error.message);
    return 1;
  }
}
