/** `lamda-node-agent ipfs-dev`: runs the local IPFS service until interrupted. */
import type { Command } from "../command.ts";
import { startDevIpfs } from "./dev_service.ts";

/** The `ipfs-dev` command. */
export const ipfsDevCommand: Command = {
  name: "ipfs-dev",
  summary: "run the local IPFS service (Pinata pinning API subset + trustless gateway) for local networks",
  description:
    "Uploads need `Authorization: Bearer <PINATA_JWT>`; point PINATA_API_URL and IPFS_GATEWAYS at the printed URL.",
  options: {
    port: { type: "string", description: "TCP port (default 5080)", placeholder: "N" },
    dir: { type: "string", description: "blockstore directory (default DATA_DIR/ipfs-dev)", placeholder: "D" },
    host: { type: "string", description: "listen address (default 127.0.0.1)", placeholder: "ADDR" },
    profile: {
      type: "string",
      description: "importer profile of CIDv1 uploads: kubo-cidv1 (default) or unixfs-v1-2025",
      placeholder: "P",
    },
  },
  async run(ctx) {
    const port = Number(ctx.options.port ?? "5080");
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      ctx.logger.error("invalid --port", { port: ctx.options.port });
      return 2;
    }
    const jwt = ctx.loaded.config.pinataJwt;
    if (!jwt) {
      ctx.logger.error("PINATA_JWT must be set: it is the token the local pinning API accepts");
      return 2;
    }
    const profile = ctx.options.profile ?? "kubo-cidv1";
    if (profile !== "kubo-cidv1" && profile !== "unixfs-v1-2025") {
      ctx.logger.error("invalid --profile: use kubo-cidv1 or unixfs-v1-2025", { profile });
      return 2;
    }
    const dataDir = typeof ctx.options.dir === "string" ? ctx.options.dir : `${ctx.loaded.config.dataDir}/ipfs-dev`;
    const service = await startDevIpfs({
      port,
      dataDir,
      jwt,
      profile,
      hostname: typeof ctx.options.host === "string" ? ctx.options.host : undefined,
      logger: ctx.logger,
    });
    ctx.print(service.url);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await service.close();
    return 0;
  },
};
