/** Variables of the chain component: RPC, key, contract, heartbeats. */
import { z } from "zod";
import { address, duration, list, optional, url, withDefault } from "../spec.ts";

/** The NodeReputation contract deployed on opBNB testnet. */
export const DEPLOYED_REPUTATION_ADDRESS = "0x108f2c400C9828d8044a5F6985f0C9589B90758D";

/** Chain variables. */
export const chainVars = {
  rpcUrls: withDefault({
    env: "OPBNB_RPC_URL",
    schema: list(url(["http", "https", "ws", "wss"]), { min: 1 }),
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
    schema: duration({ min: 5_000, max: 4 * 60_000 }),
    default: "1m",
    example: "30s",
    doc: "Time between on-chain heartbeats (the network marks a node offline after ~5m of silence).",
    group: "Chain",
  }),
};
