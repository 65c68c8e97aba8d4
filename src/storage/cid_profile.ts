/** The importer settings that decide a CID: the service's (Pinata/Kubo CIDv1) and Kubo's classic CIDv0 defaults. */
import type { ImporterOptions } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";

/** Chunk size of Kubo's default chunker (`size-262144`). */
export const CHUNK_SIZE = 262_144;
/** Children per node of Kubo's balanced layout. */
export const MAX_CHILDREN = 174;

function kuboOptions(cidVersion: 0 | 1): ImporterOptions {
  return {
    cidVersion,
    // Kubo turns raw leaves on with --cid-version=1 and keeps dag-pb leaves for CIDv0.
    rawLeaves: cidVersion === 1,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: CHUNK_SIZE }),
    layout: balanced({ maxChildrenPerNode: MAX_CHILDREN }),
    // Kubo's HAMT switch: estimated link bytes over 256 KiB.
    shardSplitThresholdBytes: 262_144,
    shardSplitStrategy: "links-bytes",
    fieldOrder: "links-first",
    wrapWithDirectory: false,
  };
}

/** Pinata `pinFileToIPFS` with `{"cidVersion":1}` (Kubo `add --cid-version=1`): raw leaves, 256 KiB, balanced 174. */
export function serviceImporterOptions(): ImporterOptions {
  return kuboOptions(1);
}

/** Kubo's classic defaults (`ipfs add`, CIDv0): dag-pb leaves, 256 KiB, balanced 174. */
export function kuboV0ImporterOptions(): ImporterOptions {
  return kuboOptions(0);
}

/** Importer options for a CID version as Pinata/Kubo produce it. */
export function importerOptionsFor(cidVersion: 0 | 1): ImporterOptions {
  return kuboOptions(cidVersion);
}
