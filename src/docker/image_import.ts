/** Builds images without a registry: a rootfs tarball imported through `POST /images/create?fromSrc=-`. */
import tarStream from "tar-stream";
import type { DockerClient } from "./client.ts";

/** A file to place in a rootfs. */
export interface RootfsFile {
  /** Path inside the image, without a leading slash. */
  path: string;
  /** File content, or a symlink target with `symlink: true`. */
  content?: Uint8Array | string;
  symlink?: string;
  mode?: number;
}

/** Packs files into an uncompressed tar archive (directories are created as needed). */
export async function packRootfs(files: RootfsFile[]): Promise<Uint8Array> {
  const pack = tarStream.pack();
  const chunks: Uint8Array[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Uint8Array));
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  const dirs = new Set<string>();
  const entry = (header: Partial<tarStream.Header> & { name: string }, body?: Uint8Array | string) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(header, body as never, (err?: Error | null) => (err ? reject(err) : resolve()));
    });
  for (const f of files) {
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!dirs.has(dir)) {
        dirs.add(dir);
        await entry({ name: dir + "/", type: "directory", mode: dir === "tmp" ? 0o1777 : 0o755 });
      }
    }
    if (f.symlink !== undefined) await entry({ name: f.path, type: "symlink", linkname: f.symlink });
    else await entry({ name: f.path, mode: f.mode ?? 0o644 }, f.content ?? "");
  }
  pack.finalize();
  await done;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Options for {@linkcode importImage}. */
export interface ImportOptions {
  /** Dockerfile-style changes applied on import, e.g. `CMD ["/bin/sh"]`. */
  changes?: string[];
  signal?: AbortSignal;
}

/** Imports a rootfs tarball as image `ref` (`repo:tag`); returns the image id. */
export async function importImage(
  docker: DockerClient,
  ref: string,
  tarball: Uint8Array,
  options: ImportOptions = {},
): Promise<string> {
  const colon = ref.lastIndexOf(":");
  const [repo, tag] = colon > ref.lastIndexOf("/") ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, "latest"];
  const query = new URLSearchParams({ fromSrc: "-", repo, tag });
  for (const c of options.changes ?? []) query.append("changes", c);
  const res = await docker.request("POST", `/images/create?${query}`, {
    body: tarball,
    headers: { "content-type": "application/x-tar" },
    signal: options.signal,
  });
  // The answer is a JSON progress stream; an error can arrive inside it with status 200.
  const text = await res.text();
  let id = "";
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line) as { status?: string; error?: string };
    if (msg.error) throw new Error(`Cannot import image ${ref}: ${msg.error}`);
    if (msg.status?.startsWith("sha256:")) id = msg.status;
  }
  return id;
}

/** Where Debian's busybox-static installs its binary. */
export const BUSYBOX_PATH = "/bin/busybox";

/**
 * Builds a minimal image from the host's static busybox: `/bin/busybox`, `/bin/sh` and the common applets,
 * plus any extra files. Returns the image id. Needs `busybox-static` installed on the host.
 */
export async function importBusyboxImage(
  docker: DockerClient,
  ref: string,
  options: ImportOptions & { extraFiles?: RootfsFile[]; busybox?: string } = {},
): Promise<string> {
  const busybox = await Deno.readFile(options.busybox ?? BUSYBOX_PATH);
  const applets = ["sh", "cat", "echo", "ls", "sleep", "head", "tr", "wc", "dd", "mkdir", "rm", "grep", "env", "ln"];
  const files: RootfsFile[] = [
    { path: "bin/busybox", content: busybox, mode: 0o755 },
    ...applets.map((a) => ({ path: `bin/${a}`, symlink: "busybox" })),
    { path: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n" },
    { path: "tmp/.keep", content: "" },
    ...(options.extraFiles ?? []),
  ];
  return await importImage(docker, ref, await packRootfs(files), {
    changes: options.changes ?? ['CMD ["/bin/sh"]', "ENV PATH=/bin"],
    signal: options.signal,
  });
}
