/**
 * Outputs of unusual shape: special files and links keep their refusals (before any byte is sent); hard links, deep
 * trees, many empty files upload; a huge sparse file is output_too_large from its size alone.
 */
import assert from "node:assert/strict";
import { Storage, type StorageConfig, type StorageError } from "../../src/storage/mod.ts";
import { startFaultyPinata } from "./faulty_pinata.ts";
import { localStack } from "./support.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

const AGENT = "0x" + "ab".repeat(20);
const GiB = 1024 ** 3;

/** A storage uploading through a counting proxy in front of the local service. */
function counted(stack: Stack, overrides: Partial<StorageConfig> = {}) {
  const proxy = startFaultyPinata(stack.service.port, []);
  return { proxy, storage: new Storage({ ...stack.config, pinataApiUrl: proxy.url, ...overrides }, stack.logger) };
}

async function output(stack: Stack, make: (out: string) => Promise<unknown>): Promise<string> {
  const out = `${stack.dir}/out-${crypto.randomUUID()}`;
  await Deno.mkdir(`${out}/sub`, { recursive: true });
  await Deno.writeTextFile(`${out}/fine.txt`, "ok");
  await make(out);
  return out;
}

async function sh(script: string, cwd: string): Promise<boolean> {
  return (await new Deno.Command("sh", { args: ["-c", script], cwd, stderr: "null" }).output()).success;
}

const isRoot = Deno.uid() === 0;

const SPECIAL: [string, (out: string) => Promise<unknown>, RegExp, boolean][] = [
  ["a FIFO", (out) => sh("mkfifo sub/pipe", out), /"sub\/pipe" is a special file/, false],
  [
    "a unix socket",
    (out) => Promise.resolve(Deno.listen({ transport: "unix", path: `${out}/sub/sock` })),
    /"sub\/sock" is a special file/,
    false,
  ],
  ["a character device", (out) => sh("mknod sub/null c 1 3", out), /"sub\/null" is a special file/, !isRoot],
  ["a symlink to a directory", (out) => Deno.symlink("/etc", `${out}/sub/etc`), /"sub\/etc" is a symlink/, false],
  ["a dangling symlink", (out) => Deno.symlink("/nonexistent", `${out}/dangling`), /"dangling" is a symlink/, false],
];

for (const [what, make, message, skip] of SPECIAL) {
  Deno.test({
    name: `an output holding ${what} is refused before any byte is sent`,
    ignore: skip,
    async fn() {
      await using stack = await localStack();
      const { proxy, storage } = counted(stack);
      await using _ = proxy;
      const listeners: Deno.Listener[] = [];
      const out = await output(stack, async (o) => {
        const made = await make(o);
        if (made && typeof made === "object" && "close" in made) listeners.push(made as Deno.Listener);
        else if (made === false) throw new Error(`cannot make ${what} here`);
      });
      try {
        const error: StorageError = await storage.uploadOutput(out, { jobId: "special", agentAddress: AGENT }).then(
          () => assert.fail("expected a refusal"),
          (e) => e,
        );
        assert.equal(error.reason, "upload_failed");
        assert.equal(error.detail, "symlink");
        assert.match(error.message, message);
        assert.equal(proxy.connections, 0);
      } finally {
        for (const l of listeners) l.close();
      }
    },
  });
}

Deno.test("hard links upload as regular files: each name, the same content", async () => {
  await using stack = await localStack();
  const out = await output(stack, async (o) => {
    await Deno.writeTextFile(`${o}/sub/original`, "shared bytes\n");
    await Deno.link(`${o}/sub/original`, `${o}/linked`);
  });
  const res = await stack.storage.uploadOutput(out, { jobId: "hard", agentAddress: AGENT });
  assert.equal(res.files, 3);
  const back = `${stack.dir}/back`;
  await stack.storage.fetchInput(res.cid, back);
  assert.equal(await Deno.readTextFile(`${back}/linked`), "shared bytes\n");
  assert.equal(await Deno.readTextFile(`${back}/sub/original`), "shared bytes\n");
  assert.equal((await Deno.lstat(`${back}/linked`)).nlink, 1, "written back as separate files");
});

Deno.test("a tree 300 directories deep uploads and comes back whole", async () => {
  await using stack = await localStack();
  const deep = Array.from({ length: 300 }, (_, i) => `d${i}`).join("/");
  const out = await output(stack, async (o) => {
    await Deno.mkdir(`${o}/${deep}`, { recursive: true });
    await Deno.writeTextFile(`${o}/${deep}/leaf.txt`, "bottom\n");
  });
  const res = await stack.storage.uploadOutput(out, { jobId: "deep", agentAddress: AGENT });
  assert.equal(res.files, 2);
  const back = `${stack.dir}/back`;
  await stack.storage.fetchInput(res.cid, back);
  assert.equal(await Deno.readTextFile(`${back}/${deep}/leaf.txt`), "bottom\n");
});

Deno.test("3,000 empty files upload (the service rebuilds the same directory) and are all listed on it", async () => {
  await using stack = await localStack();
  const out = await output(stack, (o) => sh("cd sub && seq 1 3000 | xargs touch", o));
  const res = await stack.storage.uploadOutput(out, { jobId: "many", agentAddress: AGENT });
  assert.equal(res.files, 3001);
  const listing = await (await fetch(`${stack.service.url}/ipfs/${res.cid}/sub`)).json();
  assert.equal(listing.entries.length, 3000);
});

Deno.test("a 30 GiB sparse file is output_too_large (OUTPUT_MAX_BYTES 20 GiB) at once, nothing sent", async () => {
  await using stack = await localStack();
  const { proxy, storage } = counted(stack, { outputMaxBytes: 20 * GiB });
  await using _ = proxy;
  const out = await output(stack, async (o) => {
    using f = await Deno.open(`${o}/sub/sparse.bin`, { write: true, create: true });
    await f.truncate(30 * GiB);
  });
  const t0 = performance.now();
  const error: StorageError = await storage.uploadOutput(out, { jobId: "sparse", agentAddress: AGENT }).then(
    () => assert.fail("expected output_too_large"),
    (e) => e,
  );
  assert.equal(error.reason, "output_too_large");
  assert.match(error.message, /OUTPUT_MAX_BYTES/);
  assert.equal(proxy.connections, 0);
  assert.ok(performance.now() - t0 < 5000, "decided from sizes, not by reading 30 GiB");
});
