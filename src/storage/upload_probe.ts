/**
 * `doctor`'s proof that the Pinata key can upload, not only authenticate: Pinata offers no dry run of
 * `pinFileToIPFS`, so a tiny fixed directory is pinned the way job outputs are, its CID is checked against the local
 * profiles, and the pin is removed again when the key may `unpin`.
 */
import { CID_PROFILES, type CidProfileName, matchProfile, UPLOAD_PROFILES } from "./cid_profile.ts";
import { computeMemoryTreeCid } from "./compute_cid.ts";
import type { PinataClient } from "./pinata_client.ts";

/** The probe's one file (same bytes on every host, so every probe pins the same CID). */
export const PROBE_FILE = { path: "probe.txt", content: new TextEncoder().encode("lamda-node-agent upload probe\n") };

/** What the probe found. */
export interface ProbeResult {
  /** The CID Pinata pinned the probe as. */
  cid: string;
  /** The local profile that gives the same CID; undefined when none does (then `expected` lists them). */
  profile?: CidProfileName;
  /** The local CIDs, by profile, when none matched. */
  expected: Map<CidProfileName, string>;
  /** Whether the probe's pin was removed (false: the key lacks the `unpin` scope). */
  unpinned: boolean;
}

/**
 * Pins the probe directory and unpins it. Throws the upload's `StorageError` when the key cannot upload (detail
 * `unauthorized` for 401/403, e.g. a key without the `pinFileToIPFS` scope).
 */
export async function probeUpload(client: PinataClient, signal?: AbortSignal): Promise<ProbeResult> {
  const pinned = await client.pinParts(
    [{ name: "file", filename: `lamda-probe/${PROBE_FILE.path}`, content: PROBE_FILE.content }],
    { name: "lamda-node-agent upload probe", keyvalues: { purpose: "doctor" }, signal },
  );
  const files = { [PROBE_FILE.path]: PROBE_FILE.content };
  const { match, computed } = await matchProfile(
    pinned.cid,
    UPLOAD_PROFILES,
    async (profile) => String(await computeMemoryTreeCid(files, { profile })),
  );
  const unpinned = await client.unpin(pinned.cid, signal);
  return { cid: pinned.cid, profile: match?.name, expected: match ? new Map() : computed, unpinned };
}

/** A profile's name and summary, for messages. */
export function describeProfile(name: CidProfileName): string {
  return `${name} (${CID_PROFILES[name].summary})`;
}
