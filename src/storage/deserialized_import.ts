/**
 * A dag-pb file a gateway served deserialized (its plain bytes, not a CAR) is still verifiable when re-importing the
 * bytes under an importer profile gives back the requested CID exactly: the DAG is then rebuilt here, block by block,
 * and goes through the spool like any other. Only the known profiles are tried (IPIP-0499: Kubo's CIDv0 defaults,
 * Kubo `--cid-version=1`, `unixfs-v1-2025`), so a file made with other settings is refused.
 */
import { importByteStream } from "ipfs-unixfs-importer";
import type { CID } from "multiformats/cid";
import type { BlockSession } from "./block_spool.ts";
import { CID_PROFILES, type CidProfile, profileImporterOptions } from "./cid_profile.ts";
import { DiskBlockstore } from "./disk_blockstore.ts";

/** What a re-import found. */
export interface ReimportResult {
  /** The profile that reproduced the CID; undefined when none did. */
  profile?: CidProfile;
  /** The CID each profile tried gave, for the refusal's message. */
  computed: Map<string, string>;
  /** Bytes of the body; undefined when it was over the limit (nothing was tried). */
  bytes?: number;
}

/** The profiles that can produce a dag-pb CID of `cid`'s version. */
export function reimportProfiles(cid: CID): CidProfile[] {
  return Object.values(CID_PROFILES).filter((p) => p.cidVersion === cid.version);
}

/**
 * Streams `body` into `scratchDir`, re-imports it under each profile of `cid`'s version, and on a match puts the
 * rebuilt blocks into `session`. At most `maxBytes` are read.
 */
export async function reimportDeserialized(
  body: AsyncIterable<Uint8Array>,
  cid: CID,
  session: BlockSession,
  options: { scratchDir: string; maxBytes: number; signal?: AbortSignal },
): Promise<ReimportResult> {
  const computed = new Map<string, string>();
  await Deno.mkdir(options.scratchDir, { recursive: true });
  const file = `${options.scratchDir}/body`;
  try {
    const bytes = await spill(body, file, options.maxBytes);
    if (bytes === undefined) return { computed };
    for (const profile of reimportProfiles(cid)) {
      options.signal?.throwIfAborted();
      const store = await new DiskBlockstore(`${options.scratchDir}/${profile.name}`).open();
      const made: CID[] = [];
      const sink = {
        put: async (c: CID, b: Uint8Array) => {
          made.push(c);
          return await store.put(c, b);
        },
      };
      // deno-lint-ignore no-explicit-any
      const root = await importByteStream(chunks(file), sink as any, profileImporterOptions(profile));
      computed.set(profile.name, root.cid.toString());
      if (root.cid.equals(cid)) {
        // Every block goes through the session like a gateway's: hashed against its CID, stored, counted.
        for (const c of made) await session.put(c, await store.read(c));
        return { profile, computed, bytes };
      }
      await store.destroy();
    }
    return { computed, bytes };
  } finally {
    await Deno.remove(options.scratchDir, { recursive: true }).catch(() => {});
  }
}

async function spill(body: AsyncIterable<Uint8Array>, path: string, max: number): Promise<number | undefined> {
  using out = await Deno.open(path, { write: true, createNew: true });
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) return undefined;
    let off = 0;
    while (off < chunk.byteLength) off += await out.write(chunk.subarray(off));
  }
  return size;
}

async function* chunks(path: string): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path);
  while (true) {
    const buf = new Uint8Array(1024 * 1024);
    const n = await file.read(buf);
    if (n === null) return;
    yield n === buf.byteLength ? buf : buf.subarray(0, n);
  }
}
