/**
 * One gateway answer, judged by what the trustless-gateway spec lets a client verify: a CAR
 * (`application/vnd.ipld.car`) or a raw block (`application/vnd.ipld.raw`). Anything else is a gateway that does not
 * speak the protocol — except for a raw-codec CID, whose block is the file itself, so one hash over any body decides,
 * and a dag-pb file whose plain bytes re-import to its CID under a known importer profile.
 */
import type { CID } from "multiformats/cid";
import type { BlockSession } from "./block_spool.ts";
import { DAG_PB, MAX_BLOCK_BYTES, RAW, verifyBlock } from "./block_verify.ts";
import { type CarIngestResult, ingestCar } from "./car_ingest.ts";
import { reimportDeserialized } from "./deserialized_import.ts";
import { integrityError, StorageError } from "./errors.ts";

/** The CAR media type. */
export const CAR_TYPE = "application/vnd.ipld.car";
/** The raw-block media type. */
export const RAW_TYPE = "application/vnd.ipld.raw";
/** What the agent asks for in CAR requests (IPIP-412 parameters; a gateway may answer without them). */
export const CAR_ACCEPT = `${CAR_TYPE};version=1;order=dfs;dups=n`;

/** A 200 that is neither a CAR nor a raw block: the gateway does not speak the trustless protocol. */
export class NotTrustlessError extends StorageError {
  override name = "NotTrustlessError";
  /** The media type it answered with (`""` when none). */
  readonly contentType: string;

  constructor(message: string, contentType: string) {
    super("input_fetch_failed", "http_status", message, { retryable: false });
    this.contentType = contentType;
  }
}

/** The media type of a `Content-Type` header, lower case, without parameters (`""` when absent). */
export function mediaType(header: string | null): string {
  return (header ?? "").split(";")[0].trim().toLowerCase();
}

/** What was asked, for messages. */
export type Asked = "car" | "raw";

/** Options of {@linkcode readAnswer}. */
export interface AnswerOptions {
  asked: Asked;
  status: number;
  maxCarBytes: number;
  /** Most decoded bytes: the limit of a deserialized file that is re-imported to check it. */
  maxBytes: number;
  signal?: AbortSignal;
}

/**
 * Reads a 2xx answer for `cid` into `session`: a CAR as a feed, a raw block (or, for a raw CID, any body) as the
 * block. Throws {@linkcode NotTrustlessError} for an answer that cannot be verified, `input_integrity_failed` for
 * trustless bytes that contradict their CID.
 */
export async function readAnswer(
  contentType: string | null,
  body: AsyncIterable<Uint8Array>,
  cid: CID,
  session: BlockSession,
  options: AnswerOptions,
): Promise<CarIngestResult | undefined> {
  const type = mediaType(contentType);
  if (type === CAR_TYPE) {
    const feed = session.openFeed();
    const result = await ingestCar(body, feed, { maxCarBytes: options.maxCarBytes, buffers: session.spool.buffers });
    feed.end();
    return result;
  }
  if (type === RAW_TYPE) {
    const bytes = await readBlockBody(body, () => integrityError("too_large", `Raw block ${cid} exceeds 2 MiB`));
    await session.put(cid, bytes);
    return undefined;
  }
  const refuse = (why = "") => notTrustless(cid, type, options, why);
  if (cid.code === DAG_PB && type !== "text/html") {
    // Perhaps the file itself: rebuilt under a known importer profile, it either gives back the CID or is refused.
    const found = await reimportDeserialized(body, cid, session, {
      scratchDir: `${session.spool.dir}/.deserialized-${crypto.randomUUID()}`,
      maxBytes: options.maxBytes,
      signal: options.signal,
    });
    if (found.profile) return undefined;
    const tried = [...found.computed].map(([name, c]) => `${name} gives ${c}`).join(", ");
    throw refuse(
      found.bytes === undefined
        ? `; its body exceeds INPUT_MAX_BYTES, so it was not re-imported`
        : `; re-imported under the known profiles its ${found.bytes} bytes do not give that CID (${tried})`,
    );
  }
  // A raw CID names the file's bytes themselves: whatever the gateway calls them, one hash tells.
  if (cid.code !== RAW) throw refuse();
  const bytes = await readBlockBody(body, refuse);
  try {
    await verifyBlock(cid, bytes);
  } catch {
    throw refuse();
  }
  await session.put(cid, bytes);
  return undefined;
}

function notTrustless(cid: CID, type: string, options: AnswerOptions, why: string): NotTrustlessError {
  const wanted = options.asked === "car" ? CAR_TYPE : RAW_TYPE;
  const what = type === "text/html"
    ? " (a web page)"
    : type === ""
    ? ""
    : " (the deserialized content, which cannot be verified block by block)";
  return new NotTrustlessError(
    `does not speak the trustless-gateway protocol: asked for ${wanted} of ${cid}, it answered HTTP ` +
      `${options.status} with Content-Type ${type || "(none)"}${what}${why}; not asked again for this job`,
    type,
  );
}

async function readBlockBody(body: AsyncIterable<Uint8Array>, tooLarge: () => Error): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > MAX_BLOCK_BYTES) throw tooLarge();
    parts.push(chunk);
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
