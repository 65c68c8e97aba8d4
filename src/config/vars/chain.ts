/** Variables of the chain component: RPC, key, contract, heartbeats. */
import { z } from "zod";
import { address, boolean, duration, integer, list, optional, path, url, withDefault } from "../spec.ts";

/** The NodeReputation contract deployed on opBNB testnet. */
export const DEPLOYED_REPUTATION_ADDRESS = "0x108f2c400C9828d8044a5F6985f0C9589B90758D";

/** Minimum of HEARTBEAT_INTERVAL for operators (tests may go lower through a constructor option). */
export const MIN_HEARTBEAT_INTERVAL_MS = 5_000;

const GWEI = 1_000_000_000;

/**
 * The lowest tip (priority fee per gas, wei) the nodes of a chain accept, by chain id. opBNB mainnet (204) and testnet
 * (5611): 1001 wei, "Minimum Priority Price" in BNB Chain's opBNB docs (core-concepts/gas-and-fees). No RPC method
 * reports it (`eth_maxPriorityFeePerGas` is a suggestion from recent blocks), hence a table. Other chains: none known.
 */
export const MIN_PRIORITY_FEE_BY_CHAIN: Readonly<Record<number, { wei: number; chain: string }>> = {
  204: { wei: 1001, chain: "opBNB mainnet" },
  5611: { wei: 1001, chain: "opBNB testnet" },
};

/** A gas price: `1gwei`, `0.5 gwei`, `1000000wei` or a plain number of wei; parsed to an integer number of wei. */
export const gasPrice = (): z.ZodType<number, string> =>
  z.string().transform((s, ctx) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(wei|gwei)?\s*$/i.exec(s);
    const wei = m ? Math.round(Number(m[1]) * (m[2]?.toLowerCase() === "gwei" ? GWEI : 1)) : NaN;
    if (!Number.isSafeInteger(wei) || wei < 0) {
      ctx.addIssue({ code: "custom", message: "is not a gas price (e.g. 1gwei, 0.001gwei, 1000000wei)" });
      return z.NEVER;
    }
    return wei;
  });

/** Chain variables. */
export const chainVars = {
  rpcUrls: withDefault({
    env: "OPBNB_RPC_URL",
    schema: list(url(["http", "https"]), { min: 1 }),
    default: "https://opbnb-testnet-rpc.bnbchain.org",
    example: "https://opbnb-testnet-rpc.bnbchain.org,https://opbnb-testnet.nodereal.io/v1/KEY",
    doc: "JSON-RPC endpoint(s) of opBNB; several, comma-separated, are tried in order (failover).",
    group: "Chain",
  }),
  privateKey: optional({
    env: "AGENT_PRIVATE_KEY",
    schema: z.string().trim().regex(
      /^(0x)?[0-9a-fA-F]{64}$/,
      "is not a private key (64 hex digits, with or without 0x)",
    ).transform((s) => (s.startsWith("0x") ? s : `0x${s}`)),
    secret: true,
    example: "0x<64 hex digits>",
    doc: "The node's private key (hex). Prefer AGENT_KEYSTORE for production. Never logged.",
    group: "Chain",
  }),
  reputationContract: withDefault({
    env: "REPUTATION_CONTRACT_ADDRESS",
    schema: address(),
    default: DEPLOYED_REPUTATION_ADDRESS,
    example: DEPLOYED_REPUTATION_ADDRESS,
    doc: "Address of the NodeReputation contract.",
    group: "Chain",
  }),
  heartbeatInterval: withDefault({
    env: "HEARTBEAT_INTERVAL",
    schema: duration({ min: MIN_HEARTBEAT_INTERVAL_MS, max: 4 * 60_000 }),
    default: "1m",
    example: "30s",
    doc: "Time between on-chain heartbeats (the network marks a node offline after ~5m of silence).",
    group: "Chain",
  }),
  chainId: withDefault({
    env: "CHAIN_ID",
    schema: integer(1),
    default: "5611",
    example: "5611",
    doc: "Chain id the RPC endpoints must serve (5611 = opBNB testnet); checked at start-up.",
    group: "Chain",
  }),
  keystore: optional({
    env: "AGENT_KEYSTORE",
    schema: path(),
    example: "/etc/lamda/keystore.json",
    doc: "Encrypted JSON keystore holding the node's key (alternative to AGENT_PRIVATE_KEY); must be mode 600.",
    group: "Chain",
  }),
  keystorePasswordFile: optional({
    env: "AGENT_KEYSTORE_PASSWORD_FILE",
    schema: path(),
    example: "/etc/lamda/keystore.password",
    doc: "File holding the keystore password (trailing newline ignored); must be mode 600.",
    group: "Chain",
  }),
  allowInsecureKeyFileMode: withDefault({
    env: "ALLOW_INSECURE_KEY_FILE_MODE",
    schema: boolean(),
    default: "false",
    example: "true",
    doc: "Development only: accept a keystore, password file or .env with a key that group/others can read.",
    group: "Chain",
  }),
  rpcTimeout: withDefault({
    env: "RPC_TIMEOUT",
    schema: duration({ min: 500, max: 120_000 }),
    default: "10s",
    example: "5s",
    doc: "Timeout of one JSON-RPC request to one endpoint; on timeout the next OPBNB_RPC_URL is tried.",
    group: "Chain",
  }),
  maxFeePerGas: withDefault({
    env: "MAX_FEE_PER_GAS",
    schema: gasPrice(),
    default: "1gwei",
    example: "0.1gwei",
    doc: "Hard cap on the fee per gas of every transaction the agent sends (bumped replacements included).",
    group: "Chain",
  }),
  maxPriorityFeePerGas: withDefault({
    env: "MAX_PRIORITY_FEE_PER_GAS",
    schema: gasPrice(),
    default: "0.01gwei",
    example: "0.001gwei",
    doc: "Cap on the priority fee (tip); the node's suggestion is used when lower. On opBNB (CHAIN_ID 204, 5611) " +
      "at least 1001wei, the chain's minimum tip.",
    group: "Chain",
  }),
  heartbeatReceiptTimeout: withDefault({
    env: "HEARTBEAT_RECEIPT_TIMEOUT",
    schema: duration({ min: 1_000, max: 10 * 60_000 }),
    default: "45s",
    example: "30s",
    doc: "How long a heartbeat may stay unmined before it counts as stuck and is replaced with higher fees.",
    group: "Chain",
  }),
  lowBalanceHeartbeats: withDefault({
    env: "LOW_BALANCE_HEARTBEATS",
    schema: integer(0),
    default: "1440",
    example: "10000",
    doc: "Warn when the wallet balance pays for fewer than this many heartbeats (1440 = one day at 1m).",
    group: "Chain",
  }),
};
