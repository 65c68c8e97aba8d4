/**
 * The importer's leaf stage with the hashing off this thread: each chunk becomes a leaf block (raw, or a dag-pb node
 * holding a UnixFS `file`/`raw` leaf, as the importer's own stage builds it) and is hashed with WebCrypto, which runs
 * on a worker thread, so several leaves hash at once beside the reading of the next ones. The importer's default stage
 * hashes every leaf on the main thread, where it waits behind the upload's writes and the rest of the agent.
 */
import * as dagPb from "@ipld/dag-pb";
import type { BufferImporter } from "ipfs-unixfs-importer";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import * as Digest from "multiformats/hashes/digest";
import { sha256Digest, SHA2_256 } from "./block_verify.ts";

/** Leaves hashed at the same time (each holds one chunk: at most 16 MiB at the 1 MiB profile's chunks). */
export const LEAF_HASH_CONCURRENCY = 16;

/** The importer option `bufferImporter` that hashes with {@linkcode sha256Digest}. */
export function leafImporter(options: {
  cidVersion: 0 | 1;
  rawLeaves: boolean;
  leafType?: "file" | "raw";
}): BufferImporter {
  return async function* (file, blockstore) {
    for await (const chunk of file.content) {
      yield async () => {
        let block = chunk;
        let unixfs: UnixFS | undefined;
        let codec: number = raw.code;
        let version: 0 | 1 = 1;
        if (!options.rawLeaves) {
          unixfs = new UnixFS({ type: options.leafType ?? "file", data: chunk });
          block = dagPb.encode({ Data: unixfs.marshal(), Links: [] });
          codec = dagPb.code;
          version = options.cidVersion;
        }
        const hash = Digest.create(SHA2_256, await sha256Digest(block));
        const cid = version === 0 ? CID.createV0(hash) : CID.createV1(codec, hash);
        await blockstore.put(cid, block);
        return { cid, unixfs, size: BigInt(block.byteLength), block };
      };
    }
  };
}
