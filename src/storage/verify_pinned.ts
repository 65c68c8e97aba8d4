/**
 * Checks the CID a pinning service returned for an output against the CIDs the output has under the known importer
 * profiles ({@linkcode UPLOAD_PROFILES}): equal under any of them is the same content; equal under none fails.
 */
import { CID } from "multiformats/cid";
import { CID_PROFILES, type CidProfile, type CidProfileName, matchProfile } from "./cid_profile.ts";
import { computeTreeCid } from "./compute_cid.ts";
import { describeName, parserSensitivePaths } from "./entry_name.ts";
import { StorageError } from "./errors.ts";
import type { Logger } from "../log/mod.ts";
import type { OutputTree } from "./output_tree.ts";

/** What {@linkcode verifyPinnedCid} compares. */
export interface PinnedCheck {
  /** The CID the service answered with. */
  pinned: string;
  dir: string;
  tree: OutputTree;
  /** Profiles to try, in order (the one that matched last time first). */
  profiles: readonly CidProfile[];
  /** Local CIDs already computed (the first profile's, hashed while uploading). */
  known: ReadonlyMap<CidProfileName, string>;
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * Returns the pinned CID (in its canonical string form) and the profile under which the output's local CID is that,
 * computing the other profiles' CIDs only on a mismatch with the known ones. Throws `upload_failed` (detail
 * `cid_mismatch`, not retryable) naming the pinned CID and every local one when none matches.
 */
export async function verifyPinnedCid(check: PinnedCheck): Promise<{ cid: string; profile: CidProfile }> {
  let pinned: string;
  try {
    pinned = CID.parse(check.pinned).toString();
  } catch {
    throw new StorageError(
      "upload_failed",
      "cid_mismatch",
      `The service returned ${JSON.stringify(check.pinned.slice(0, 100))}, which is not a CID`,
      { retryable: false },
    );
  }
  const { match, computed } = await matchProfile(
    pinned,
    check.profiles,
    async (profile) => {
      check.logger?.debug("hashing the output under another importer profile", { profile: profile.name });
      return String(await computeTreeCid(check.dir, check.tree, { profile, signal: check.signal }));
    },
    check.known,
  );
  if (match) return { cid: pinned, profile: match };
  const [first, ...others] = [...computed].map(([name, cid]) => `${cid} (${name}: ${CID_PROFILES[name].summary})`);
  const alternatives = others.length === 0 ? "" : `, or under the other known profiles ${others.join(", ")}`;
  const sensitive = parserSensitivePaths(check.tree.entries.filter((e) => e.kind === "file").map((e) => e.path));
  const hint = sensitive.length === 0 ? "" : `; the output has names some multipart parsers read differently ` +
    `(${sensitive.slice(0, 3).map((p) => describeName(p)).join(", ")}): the service may have stored other names`;
  throw new StorageError(
    "upload_failed",
    "cid_mismatch",
    `The service returned CID ${pinned} but the output's CID computed locally is ${first}${alternatives}${hint}`,
    { retryable: false },
  );
}
