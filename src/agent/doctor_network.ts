/** The doctor's network checks: NATS, the chain (RPC, chain id, contract, balance, clock), Pinata and the gateways. */
import { formatEther } from "ethers";
import {
  assertFunded,
  ChainError,
  FailoverRpcProvider,
  heartbeatBudget,
  L1FeeOracle,
  tipCapIssue,
  verifyContract,
  verifyEndpoints,
} from "../chain/mod.ts";
import type { Config } from "../config/mod.ts";
import { redactUrl } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { deniedAccess } from "../permissions/mod.ts";
import {
  describeProfile,
  PinataClient,
  PROBE_FILE,
  probeGateway,
  probeUpload,
  Storage,
  StorageError,
} from "../storage/mod.ts";
import { checkNats } from "./doctor_nats.ts";
import type { LocalProbes } from "./doctor_local.ts";
import { type CheckOutcome, type DoctorCheck, fail, oneLine, pass, warn } from "./doctor_report.ts";

/** Clock skew against the latest block above which the clock check warns, in seconds. */
export const MAX_CLOCK_SKEW_S = 30;

const RPC_FIX = "check OPBNB_RPC_URL (reachable from this host) and CHAIN_ID (opBNB testnet 5611, mainnet 204)";

const SCOPE_FIX = "use a Pinata API key (Admin, or with the legacy endpoint scope pinFileToIPFS; unpin optional) " +
  "and set its JWT as PINATA_JWT";

/**
 * The Pinata row: the JWT authenticates (`testAuthentication`), and the key can upload: a tiny probe directory is
 * pinned like a job output (Pinata has no dry run), its CID checked against the local profiles, then unpinned when the
 * key has the `unpin` scope. Each run spends one or two of a limited-use key's uses.
 */
export async function checkPinata(config: Config, signal?: AbortSignal): Promise<CheckOutcome> {
  if (!config.pinataJwt) return fail("PINATA_JWT is not set", "set PINATA_JWT to a Pinata API key (JWT)");
  const client = new PinataClient({
    apiUrl: config.pinataApiUrl,
    jwt: config.pinataJwt,
    retries: 0,
    backoffBaseMs: 0,
    attemptTimeoutMs: 20_000,
  });
  const api = redactUrl(config.pinataApiUrl);
  try {
    await client.testAuthentication(signal);
  } catch (error) {
    if (error instanceof StorageError && error.detail === "unauthorized") {
      return fail(oneLine(error), `PINATA_JWT was rejected: ${SCOPE_FIX}`);
    }
    throw error;
  }
  let probe;
  try {
    probe = await probeUpload(client, signal);
  } catch (error) {
    if (error instanceof StorageError && error.detail === "unauthorized") {
      return fail(`${api} accepted the JWT but refused an upload: ${oneLine(error)}`, SCOPE_FIX);
    }
    throw error;
  }
  if (!probe.profile) {
    const local = [...probe.expected].map(([name, cid]) => `${cid} (${name})`).join(", ");
    return fail(
      `${api} pinned the upload probe as ${probe.cid}, but the local importer profiles give ${local}: ` +
        "every job output would fail upload_failed",
      "Pinata builds CIDs in a way this agent does not know: report it with the CIDs above",
    );
  }
  const found = `${api} accepted the JWT and pinned an upload probe as ${probe.cid} (${
    describeProfile(probe.profile)
  })`;
  if (probe.unpinned) return pass(`${found}; the probe was unpinned`);
  const size = PROBE_FILE.content.byteLength;
  return pass(`${found}; the probe stays pinned (one ${size}-byte file: the key has no unpin scope)`);
}

/** The checks that need the network, in report order. */
export function networkChecks(config: Config, probes: LocalProbes, logger: Logger): DoctorCheck[] {
  const withProvider = async <T>(fn: (p: FailoverRpcProvider) => Promise<T>): Promise<T> => {
    const provider = new FailoverRpcProvider(config.rpcUrls, { chainId: config.chainId, timeoutMs: config.rpcTimeout });
    try {
      return await fn(provider);
    } finally {
      provider.destroy();
    }
  };
  const storage = new Storage(config, logger);
  const checks: DoctorCheck[] = [
    {
      name: "nats",
      local: false,
      fix: "check NATS_URL and that nats-server runs",
      async run(signal) {
        return checkNats(config, await probes.address().catch(() => undefined), signal);
      },
    },
    {
      name: "chain",
      local: false,
      timeoutMs: Math.max(20_000, config.rpcTimeout * 3),
      fix: RPC_FIX,
      run() {
        return withProvider(async (provider) => {
          const tip = tipCapIssue(config.chainId, config.maxPriorityFeePerGas);
          if (tip) {
            return fail(`MAX_PRIORITY_FEE_PER_GAS ${tip.message}`, `set MAX_PRIORITY_FEE_PER_GAS=${tip.example}`);
          }
          let stage = "rpc";
          try {
            const chainId = await verifyEndpoints(provider, config.chainId);
            stage = "contract";
            await verifyContract(provider, config.reputationContract, chainId);
            const found =
              `chain ${chainId} via ${provider.currentUrl}; NodeReputation code at ${config.reputationContract}`;
            stage = "balance";
            const address = await probes.address().catch(() => undefined);
            if (!address) return warn(`${found}; no node key, balance not checked`, "set AGENT_PRIVATE_KEY");
            const balance = await assertFunded(provider, address, chainId);
            stage = "heartbeat";
            // Balance in heartbeats, the L1 data fee included on OP-Stack chains (opBNB).
            const budget = await heartbeatBudget({
              provider,
              address,
              contractAddress: config.reputationContract,
              chainId,
              caps: {
                maxFeePerGas: BigInt(config.maxFeePerGas),
                maxPriorityFeePerGas: BigInt(config.maxPriorityFeePerGas),
              },
              l1Fees: new L1FeeOracle(provider),
            }, { balance, threshold: config.lowBalanceHeartbeats });
            const line = `${found}; balance ${formatEther(balance)} BNB, ${budget.text}`;
            if (budget.low) {
              return warn(
                line,
                `send BNB to ${address}: fewer than LOW_BALANCE_HEARTBEATS=${config.lowBalanceHeartbeats}`,
              );
            }
            return pass(line);
          } catch (error) {
            // A sandbox refusal goes to the report's explainer (the setting and the flags command), as does an
            // unexpected RPC error (the generic fix).
            if (deniedAccess(error) || (!(error instanceof ChainError) && stage === "rpc")) throw error;
            const fix = stage === "contract"
              ? "set REPUTATION_CONTRACT_ADDRESS to the NodeReputation contract on this chain (or fix CHAIN_ID)"
              : stage === "balance"
              ? "send BNB to the node address to pay for registration and heartbeats"
              : RPC_FIX;
            return fail(oneLine(error), fix);
          }
        });
      },
    },
    {
      name: "clock",
      local: false,
      timeoutMs: Math.max(15_000, config.rpcTimeout * 2),
      fix: RPC_FIX,
      run() {
        return withProvider(async (provider) => {
          const block = await provider.getBlock("latest");
          if (!block) return fail("the RPC endpoint returned no latest block", RPC_FIX);
          const skew = Math.round(Date.now() / 1000 - block.timestamp);
          const found = `local clock is ${Math.abs(skew)} s ${skew >= 0 ? "ahead of" : "behind"} block ${block.number}`;
          if (Math.abs(skew) > MAX_CLOCK_SKEW_S) {
            return warn(
              found,
              "synchronise the clock (timedatectl set-ntp true, or chrony); a lagging RPC node shows the same",
            );
          }
          return pass(found);
        });
      },
    },
    {
      name: "pinata",
      local: false,
      timeoutMs: 30_000,
      fix: "check PINATA_API_URL and that this host may reach it",
      run: (signal) => checkPinata(config, signal),
    },
  ];
  for (const gateway of storage.gateways()) {
    const name = redactUrl(gateway.url);
    checks.push({
      name: `gateway ${name}`,
      local: false,
      fix: `check that ${name} is reachable from this host, or remove it from IPFS_GATEWAYS`,
      async run(signal) {
        // The trustless-gateway spec's probe: /ipfs/bafkqaaa as a raw block and as a CAR, status and Content-Type.
        const probe = await probeGateway(gateway, { signal, timeoutMs: 10_000 });
        switch (probe.verdict) {
          case "trustless":
          case "raw_only":
            return pass(probe.summary);
          case "not_trustless":
            return fail(
              probe.summary,
              `remove ${name} from IPFS_GATEWAYS, or list a trustless gateway (e.g. https://trustless-gateway.link)`,
            );
          case "refused":
            return fail(probe.summary, "set PINATA_GATEWAY_KEY for a dedicated gateway");
          case "no_probe":
            return warn(probe.summary, `check that ${name} serves ?format=car and ?format=raw for your inputs`);
          case "unreachable":
            return fail(probe.summary, this.fix);
        }
      },
    });
  }
  return checks;
}
