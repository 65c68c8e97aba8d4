/**
 * Gateways over the Kubo-made CARs of the IPFS gateway-conformance suite (`testdata/ipfs-gateway-conformance/`): each
 * CAR's blocks, checked against their CIDs with @ipld/car and multiformats alone, in a blockstore a stand-in gateway
 * serves in one of its modes. Test-only.
 */
import { CarBlockIterator } from "@ipld/car";
import { equals } from "multiformats/bytes";
import type { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { type GatewayMode, type GatewayServer, serveGateway } from "../../src/storage/dev_gateway.ts";
import { DiskBlockstore } from "../../src/storage/disk_blockstore.ts";
import { tempDir } from "./support.ts";

/** Where the conformance CARs are kept in this repository. */
export const FIXTURES = new URL("../../testdata/ipfs-gateway-conformance/", import.meta.url).pathname;

/** A blockstore holding the blocks of one or more CARs, and what their headers name. */
export interface FixtureStore extends AsyncDisposable {
  store: DiskBlockstore;
  /** Each CAR's header root, by file name. */
  roots: Record<string, CID>;
  /** A gateway over the store; closed with it. */
  gateway(mode?: GatewayMode): GatewayServer;
}

/** Loads `cars` (file names under {@linkcode FIXTURES}) into one blockstore. */
export async function loadFixtures(...cars: string[]): Promise<FixtureStore> {
  const dir = await tempDir("conformance-");
  const store = await new DiskBlockstore(`${dir.path}/blocks`).open();
  const roots: Record<string, CID> = {};
  for (const car of cars) {
    const it = await CarBlockIterator.fromBytes(await Deno.readFile(`${FIXTURES}${car}`));
    roots[car] = (await it.getRoots())[0];
    for await (const { cid, bytes } of it) {
      const digest = await sha256.digest(bytes);
      if (!equals(digest.digest, cid.multihash.digest)) throw new Error(`${car}: block ${cid} does not verify`);
      await store.put(cid, bytes);
    }
  }
  const servers: GatewayServer[] = [];
  return {
    store,
    roots,
    gateway(mode) {
      const server = serveGateway({ store, mode });
      servers.push(server);
      return server;
    },
    async [Symbol.asyncDispose]() {
      for (const s of servers) await s.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}
