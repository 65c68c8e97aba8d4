/** A blockstore on disk: one file per block, named by its multihash, so CIDv0 and CIDv1 share storage. */
import type { CID } from "multiformats/cid";
import { base32 } from "multiformats/bases/base32";

/** Raised when a block is not in the store. */
export class BlockNotFoundError extends Error {
  override name = "BlockNotFoundError";
}

/** Stores verified blocks as files under a directory; writes are atomic (temp file + rename). */
export class DiskBlockstore {
  readonly dir: string;
  #tmpCounter = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory if needed. */
  async open(): Promise<this> {
    await Deno.mkdir(this.dir, { recursive: true });
    return this;
  }

  /** The file that holds `cid`'s block. */
  pathOf(cid: CID): string {
    return `${this.dir}/${base32.baseEncode(cid.multihash.bytes)}`;
  }

  /** Stores a block (already verified by the caller). */
  async put(cid: CID, bytes: Uint8Array): Promise<CID> {
    const final = this.pathOf(cid);
    const tmp = `${this.dir}/.tmp-${Deno.pid}-${this.#tmpCounter++}`;
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, final);
    return cid;
  }

  /** Whether the block is stored. */
  async has(cid: CID): Promise<boolean> {
    try {
      await Deno.stat(this.pathOf(cid));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /** Reads a block; throws {@linkcode BlockNotFoundError} when absent. */
  async read(cid: CID): Promise<Uint8Array> {
    try {
      return await Deno.readFile(this.pathOf(cid));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new BlockNotFoundError(`Block ${cid} not found`, { cause: error });
      }
      throw error;
    }
  }

  /** The blockstore interface the UnixFS exporter uses: a block as a one-chunk generator. */
  async *get(cid: CID): AsyncGenerator<Uint8Array> {
    yield await this.read(cid);
  }

  /** Removes the whole store. */
  async destroy(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
