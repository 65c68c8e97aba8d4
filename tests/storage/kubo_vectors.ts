/**
 * Ground truth made by Kubo, for the CID oracle and the importer profiles: the test vectors of IPIP-0499 (from Kubo's
 * `test/cli/cid_profiles_test.go`, inputs from its deterministic generator) and the inputs of the IPFS
 * gateway-conformance CARs in `testdata/ipfs-gateway-conformance/` (their RECIPES files say how Kubo made them).
 */
import { createCipheriv, createHash } from "node:crypto";

/**
 * Kubo's `DeterministicRandomReader(size, seed)` (test/cli/testutils/random_deterministic.go): the ChaCha20 keystream
 * with key sha256(seed) and an all-zero nonce, streamed in 1 MiB pieces.
 */
export async function* deterministicBytes(size: number, seed: string): AsyncGenerator<Uint8Array> {
  const key = createHash("sha256").update(seed).digest();
  // Node's chacha20 takes a 16-byte IV: a 4-byte block counter (0) and the 12-byte nonce (zeros).
  const cipher = createCipheriv("chacha20", key, Buffer.alloc(16));
  const zeros = new Uint8Array(1 << 20);
  for (let left = size; left > 0; left -= zeros.byteLength) {
    yield new Uint8Array(cipher.update(zeros.subarray(0, Math.min(left, zeros.byteLength))));
  }
}

/** All of {@linkcode deterministicBytes} at once (small sizes only). */
export async function deterministicBuffer(size: number, seed: string): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let off = 0;
  for await (const piece of deterministicBytes(size, seed)) {
    out.set(piece, off);
    off += piece.byteLength;
  }
  return out;
}

/**
 * Kubo's deterministic file names for its HAMT vectors: bytes of a 1 MiB deterministic stream mapped onto
 * `AlphabetEasy`; `count - 1` names of `nameLen` characters, then one of `lastNameLen`.
 */
export async function deterministicNames(
  count: number,
  nameLen: number,
  lastNameLen: number,
  seed: string,
): Promise<string[]> {
  const alphabet = "abcdefghijklmnopqrstuvwxyz01234567890-_";
  const stream = await deterministicBuffer(1 << 20, seed);
  const names: string[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const len = i === count - 1 ? lastNameLen : nameLen;
    names.push([...stream.subarray(off, off + len)].map((b) => alphabet[b % alphabet.length]).join(""));
    off += len;
  }
  return names;
}

/** One file vector: `size` bytes of `seed` (or the text `hello world`), and the CID Kubo gave it. */
export interface FileVector {
  what: string;
  size: number;
  seed?: string;
  cid: string;
}

/** One directory vector: `count` files named by {@linkcode deterministicNames}, each holding `x`. */
export interface DirectoryVector {
  what: string;
  count: number;
  nameLen: number;
  lastNameLen: number;
  seed: string;
  cid: string;
}

const MiB = 1_048_576;
const KiB256 = 262_144;

/** IPIP-0499 "Test fixtures" for the profiles (equal to Kubo's cid_profiles_test.go expectations). */
export const IPIP_0499 = {
  "unixfs-v0-2015": {
    files: [
      { what: "hello world", size: 11, cid: "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD" },
      {
        what: "at chunk size",
        size: KiB256,
        seed: "chunk-v0-seed",
        cid: "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE",
      },
      {
        what: "over chunk size",
        size: KiB256 + 1,
        seed: "chunk-v0-seed",
        cid: "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ",
      },
      {
        what: "at max links",
        size: 174 * KiB256,
        seed: "v0-seed",
        cid: "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2",
      },
      {
        what: "over max links",
        size: 174 * KiB256 + 1,
        seed: "v0-seed",
        cid: "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW",
      },
    ] as FileVector[],
    directories: [
      {
        what: "at the HAMT threshold (links-bytes)",
        count: 4096,
        nameLen: 30,
        lastNameLen: 30,
        seed: "hamt-unixfs-v0-2015",
        cid: "QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN",
      },
      {
        what: "one byte over the HAMT threshold (links-bytes)",
        count: 4033,
        nameLen: 31,
        lastNameLen: 31,
        seed: "hamt-unixfs-v0-2015",
        cid: "QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP",
      },
    ] as DirectoryVector[],
  },
  "unixfs-v1-2025": {
    files: [
      { what: "hello world", size: 11, cid: "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e" },
      {
        what: "at chunk size",
        size: MiB,
        seed: "chunk-v1-seed",
        cid: "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta",
      },
      {
        what: "over chunk size",
        size: MiB + 1,
        seed: "chunk-v1-seed",
        cid: "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64",
      },
      {
        what: "at max links",
        size: 1024 * MiB,
        seed: "v1-2025-seed",
        cid: "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm",
      },
      {
        what: "over max links",
        size: 1024 * MiB + 1,
        seed: "v1-2025-seed",
        cid: "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe",
      },
    ] as FileVector[],
    directories: [
      {
        what: "at the HAMT threshold (block-bytes)",
        count: 4766,
        nameLen: 11,
        lastNameLen: 21,
        seed: "hamt-unixfs-v1-2025",
        cid: "bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4",
      },
      {
        what: "one byte over the HAMT threshold (block-bytes)",
        count: 4766,
        nameLen: 11,
        lastNameLen: 22,
        seed: "hamt-unixfs-v1-2025",
        cid: "bafybeiegvuterwurhdtkikfhbxcldohmxp566vpjdofhzmnhv6o4freidu",
      },
    ] as DirectoryVector[],
  },
};

/** The bytes of a file vector, streamed. */
export function vectorBytes(v: FileVector): AsyncGenerator<Uint8Array> {
  if (v.seed) return deterministicBytes(v.size, v.seed);
  return (async function* () {
    yield new TextEncoder().encode("hello world");
  })();
}

/**
 * The multi-block text of `dir-with-files.car`: the recipe's `TEXT`, two one-line paragraphs and a blank line between
 * them, without the final newline (`$(...)` strips it; the CAR shows `echo -n $TEXT` was not word-split). The lines
 * are wrapped here only for width.
 */
const LOREM =
  `Lorem ipsum dolor sit amet, consectetur adipiscing elit. Nunc non imperdiet nunc. Proin ac quam ut nibh eleifend
aliquet. Vestibulum ante ipsum primis in faucibus orci luctus et ultrices posuere cubilia curae; Sed ligula dolor, imperdiet
sagittis arcu et, semper tincidunt urna. Donec et tempor augue, quis sollicitudin metus. Curabitur semper ullamcorper aliquet.
Mauris hendrerit sodales lectus eget fermentum. Proin sollicitudin vestibulum commodo. Vivamus nec lectus eu augue aliquet
dignissim nec condimentum justo. In hac habitasse platea dictumst. Mauris vel sem neque.

Vivamus finibus, enim at lacinia semper, arcu erat gravida lacus, sit amet gravida magna orci sit amet est. Sed non leo lacus.
Nullam viverra ipsum a tincidunt dapibus. Nulla pulvinar ligula sit amet ante ultrices tempus. Proin purus urna, semper sed
lobortis quis, gravida vitae ipsum. Aliquam mi urna, pulvinar eu bibendum quis, convallis ac dolor. In gravida justo sed risus
ullamcorper, vitae luctus massa hendrerit. Pellentesque habitant amet.`.split("\n\n").map((p) =>
    p.split(/\s+/).join(" ")
  )
    .join("\n\n");

const ASCII = "hello application/vnd.ipld.car\n";
const HELLO = "hello world\n";

/** One gateway-conformance CAR and the files it holds, rebuilt from its recipe with the chunk size Kubo used. */
export interface ConformanceTree {
  car: string;
  files: Record<string, string>;
  chunkSize: number;
  cidVersion: 0 | 1;
}

/** The fixtures whose content is all files (no symlink): rebuilt and re-imported, they must give the CAR's root. */
export const CONFORMANCE_TREES: ConformanceTree[] = [
  {
    // `ipfs add --cid-version=1 [--chunker=size-256]` then MFS copies into a CIDv1 directory (Kubo 0.21).
    car: "dir-with-files.car",
    files: { "ascii-copy.txt": ASCII, "ascii.txt": ASCII, "hello.txt": HELLO, "multiblock.txt": LOREM },
    chunkSize: 256,
    cidVersion: 1,
  },
  {
    car: "subdir-with-two-single-block-files.car",
    files: { "subdir/ascii.txt": ASCII, "subdir/hello.txt": HELLO },
    chunkSize: 262_144,
    cidVersion: 1,
  },
  {
    // Kubo 0.22: a name with percent signs, `+`, `=` and non-ASCII letters.
    car: "dir-with-percent-encoded-filename.car",
    files: { "Portugal%2C+España=Peninsula Ibérica.txt": "hello from a percent encoded filename\n" },
    chunkSize: 262_144,
    cidVersion: 1,
  },
];

/** `symlink.car` (Kubo 0.18.1, `ipfs add -r`, CIDv0): its regular file `foo` and the CID Kubo gave it. */
export const SYMLINK_CAR_FOO = { car: "symlink.car", content: "content\n" };

/** Where the conformance CARs are kept in this repository. */
export const CONFORMANCE_DIR = new URL("../../testdata/ipfs-gateway-conformance/", import.meta.url).pathname;
