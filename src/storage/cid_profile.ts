/**
 * The importer profiles that decide a UnixFS CID (IPIP-0499 names the parameters): the one Pinata is expected to use
 * (Kubo `add --cid-version=1`), `unixfs-v1-2025` (the IPIP's modern profile), and Kubo's classic CIDv0 defaults.
 */
import type { ImporterOptions } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { LEAF_HASH_CONCURRENCY, leafImporter } from "./leaf_import.ts";

/** Chunk size of Kubo's default chunker (`size-262144`). */
export const CHUNK_SIZE = 262_144;
/** Children per node of Kubo's balanced layout. */
export const MAX_CHILDREN = 174;

/** The names of the profiles this project knows. */
export type CidProfileName = "kubo-cidv1" | "unixfs-v1-2025" | "unixfs-v0-2015";

/** The parameters of one profile that change a CID. */
export interface CidProfile {
  name: CidProfileName;
  cidVersion: 0 | 1;
  rawLeaves: boolean;
  chunkSize: number;
  /** Children per file node of the balanced layout. */
  maxLinks: number;
  /** How a directory's size is estimated against the 256 KiB HAMT threshold. */
  shardSplitStrategy: "links-bytes" | "block-bytes";
  /** One line for messages and docs. */
  summary: string;
}

/** Every known profile, by name. */
export const CID_PROFILES: Readonly<Record<CidProfileName, CidProfile>> = {
  "kubo-cidv1": {
    name: "kubo-cidv1",
    cidVersion: 1,
    // Kubo turns raw leaves on with --cid-version=1 and keeps the rest of its defaults.
    rawLeaves: true,
    chunkSize: CHUNK_SIZE,
    maxLinks: MAX_CHILDREN,
    shardSplitStrategy: "links-bytes",
    summary: "Kubo add --cid-version=1: 256 KiB chunks, 174 links, raw leaves",
  },
  "unixfs-v1-2025": {
    name: "unixfs-v1-2025",
    cidVersion: 1,
    rawLeaves: true,
    chunkSize: 1_048_576,
    maxLinks: 1024,
    shardSplitStrategy: "block-bytes",
    summary: "IPIP-0499: 1 MiB chunks, 1024 links, raw leaves",
  },
  "unixfs-v0-2015": {
    name: "unixfs-v0-2015",
    cidVersion: 0,
    rawLeaves: false,
    chunkSize: CHUNK_SIZE,
    maxLinks: MAX_CHILDREN,
    shardSplitStrategy: "links-bytes",
    summary: "Kubo defaults, CIDv0: 256 KiB chunks, 174 links, dag-pb leaves",
  },
};

/**
 * The profiles an uploaded output's CID may have been made with, the expected one first: a pinned CID equal to the
 * local CID under any of them is the same content. Pinata does not publish its importer settings (IPIP-0499's survey
 * lists them as unknown), so a change of profile on its side must not fail every job.
 */
export const UPLOAD_PROFILES: readonly CidProfile[] = [CID_PROFILES["kubo-cidv1"], CID_PROFILES["unixfs-v1-2025"]];

/** Importer options that produce `profile`'s CIDs (no mtime/mode, single-chunk files reduced to the leaf). */
export function profileImporterOptions(profile: CidProfile): ImporterOptions {
  return {
    cidVersion: profile.cidVersion,
    rawLeaves: profile.rawLeaves,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: profile.chunkSize }),
    layout: balanced({ maxChildrenPerNode: profile.maxLinks }),
    bufferImporter: leafImporter({ cidVersion: profile.cidVersion, rawLeaves: profile.rawLeaves }),
    blockWriteConcurrency: LEAF_HASH_CONCURRENCY,
    // The HAMT switch: estimated directory bytes over 256 KiB (strictly greater, as IPIP-0499 fixes it).
    shardSplitThresholdBytes: 262_144,
    shardSplitStrategy: profile.shardSplitStrategy,
    fieldOrder: "links-first",
    wrapWithDirectory: false,
  };
}

/** Pinata `pinFileToIPFS` with `{"cidVersion":1}` (Kubo `add --cid-version=1`): raw leaves, 256 KiB, balanced 174. */
export function serviceImporterOptions(): ImporterOptions {
  return profileImporterOptions(CID_PROFILES["kubo-cidv1"]);
}

/** Kubo's classic defaults (`ipfs add`, CIDv0): dag-pb leaves, 256 KiB, balanced 174. */
export function kuboV0ImporterOptions(): ImporterOptions {
  return profileImporterOptions(CID_PROFILES["unixfs-v0-2015"]);
}

/** Importer options for a CID version as Pinata/Kubo produce it. */
export function importerOptionsFor(cidVersion: 0 | 1): ImporterOptions {
  return cidVersion === 1 ? serviceImporterOptions() : kuboV0ImporterOptions();
}

/** The outcome of {@linkcode matchProfile}. */
export interface ProfileMatch {
  /** The profile under which the local CID equals the pinned one, if any. */
  match?: CidProfile;
  /** Every local CID computed, by profile, in the order tried. */
  computed: Map<CidProfileName, string>;
}

/**
 * Tries `profiles` in order and stops at the first whose local CID is `pinned`. A CID already in `known` is not
 * computed again; the others are computed only when every profile before them did not match (each costs a full read
 * of the content).
 */
export async function matchProfile(
  pinned: string,
  profiles: readonly CidProfile[],
  compute: (profile: CidProfile) => Promise<string>,
  known: ReadonlyMap<CidProfileName, string> = new Map(),
): Promise<ProfileMatch> {
  const computed = new Map<CidProfileName, string>();
  for (const profile of profiles) {
    const cid = known.get(profile.name) ?? await compute(profile);
    computed.set(profile.name, cid);
    if (cid === pinned) return { match: profile, computed };
  }
  return { computed };
}
