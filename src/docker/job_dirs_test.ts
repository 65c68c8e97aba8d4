import assert from "node:assert/strict";
import { containerName } from "./container_spec.ts";
import { createJobDirs, jobDirsOf, removeJobDirs } from "./job_dirs.ts";

async function tempBase(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "lamda-job-dirs-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("jobs a:b and a_b get different directories, and removing one leaves the other's files", async () => {
  await using tmp = await tempBase();
  const base = tmp.dir;
  const colon = await createJobDirs(base, "a:b", 1);
  const underscore = await createJobDirs(base, "a_b", 1);
  assert.notEqual(colon.root, underscore.root);
  await Deno.writeTextFile(`${colon.output}/result`, "colon");
  await Deno.writeTextFile(`${underscore.output}/result`, "underscore");
  await removeJobDirs(underscore);
  assert.equal(await exists(underscore.root), false);
  assert.equal(await Deno.readTextFile(`${colon.output}/result`), "colon");
});

Deno.test("ids that differ only in a stripped leading character get different directories", async () => {
  await using tmp = await tempBase();
  const base = tmp.dir;
  const roots = await Promise.all(["x", ".x", "-x", ":x"].map(async (id) => (await createJobDirs(base, id, 1)).root));
  assert.equal(new Set(roots).size, 4);
});

Deno.test("a restarted agent computes the same directories for the same job attempt and finds their content", async () => {
  await using tmp = await tempBase();
  const base = tmp.dir;
  const first = await createJobDirs(base, "job:7", 2);
  await Deno.writeTextFile(`${first.output}/partial`, "kept");
  assert.deepEqual(jobDirsOf(base, "job:7", 2), first);
  const again = await createJobDirs(base, "job:7", 2);
  assert.deepEqual(again, first);
  assert.equal(await Deno.readTextFile(`${again.output}/partial`), "kept");
  assert.notEqual(jobDirsOf(base, "job:7", 3).root, first.root);
});

Deno.test("directory and container names share the job's slug", async () => {
  await using tmp = await tempBase();
  const base = tmp.dir;
  const dirs = await createJobDirs(base, "a:b", 4);
  const dirName = dirs.root.slice(dirs.root.lastIndexOf("/") + 1);
  assert.equal(`lamda-job-${dirName}`, containerName("a:b", 4));
});

Deno.test("an older agent's directory of the same attempt is adopted, so recovery after an upgrade keeps the output", async () => {
  await using tmp = await tempBase();
  const base = tmp.dir;
  await Deno.mkdir(`${base}/job_7-a1/output`, { recursive: true });
  await Deno.writeTextFile(`${base}/job_7-a1/output/result`, "from the old agent");
  const dirs = await createJobDirs(base, "job:7", 1);
  assert.equal(await Deno.readTextFile(`${dirs.output}/result`), "from the old agent");
  assert.equal(await exists(`${base}/job_7-a1`), false);
});

Deno.test("a job whose old-style name is another job's current name never takes that job's directory", async () => {
  await using tmp = await tempBase();
  const base = tmp.dir;
  const victim = await createJobDirs(base, "x", 1);
  await Deno.writeTextFile(`${victim.output}/result`, "victim");
  // `x-<hash of x>` would have been stored as `x-<hash of x>-a1`: exactly job x's current directory.
  const hash = victim.root.match(/-([0-9a-f]{8})-a1$/)![1];
  const crafted = await createJobDirs(base, `x-${hash}`, 1);
  assert.notEqual(crafted.root, victim.root);
  assert.equal(await Deno.readTextFile(`${victim.output}/result`), "victim");
  assert.deepEqual([...Deno.readDirSync(crafted.output)], []);
});

Deno.test("an attempt run from the start again gets empty directories; a resumed one keeps what is there", async () => {
  const base = await Deno.makeTempDir({ prefix: "lamda-dirs-" });
  try {
    const first = await createJobDirs(base, "again-1", 1);
    await Deno.writeTextFile(`${first.input}/input`, "fetched before the crash");
    await Deno.writeTextFile(`${first.output}/r.txt`, "written before the crash");
    const resumed = await createJobDirs(base, "again-1", 1);
    assert.equal(await Deno.readTextFile(`${resumed.output}/r.txt`), "written before the crash");
    const fresh = await createJobDirs(base, "again-1", 1, { fresh: true });
    assert.deepEqual(await Array.fromAsync(Deno.readDir(fresh.input)), [], "the input is fetched again into nothing");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(fresh.output)), []);
    assert.equal((await Deno.stat(fresh.output)).mode! & 0o777, 0o777, "still writable by any container user");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
