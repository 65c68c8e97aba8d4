/** The release artifacts: the one-file bundle (built and run here) and the compiled binaries (where denort downloads). */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import meta from "../../deno.json" with { type: "json" };
import { VERSION } from "../../src/version.ts";
import { AGENT_PERMISSION_SET, permissionSetToFlags } from "../../src/permissions/mod.ts";
import { EXIT_RUNTIME_UNAVAILABLE, runtimeDownloadFailed } from "../../scripts/compile.ts";
import { IN_CI } from "../support/service.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const SET_FLAGS = permissionSetToFlags(AGENT_PERMISSION_SET);
const HOST_TARGET = "x86_64-unknown-linux-gnu";

async function exec(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, cwd, env: { NO_COLOR: "1", ...env }, stdin: "null" }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lamda-artifacts-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno task bundle builds one file that runs `version` under exactly the permission set", async () => {
  assert.match(meta.tasks.bundle, /^deno bundle .*--output dist\/lamda-node-agent\.js src\/main\.ts$/);
  await withTempDir(async (dir) => {
    const bundle = `${dir}/lamda-node-agent.js`;
    // The task's own command line, only the output redirected so parallel runs do not share dist/.
    const args = meta.tasks.bundle.split(" ").slice(1).map((a) => (a === "dist/lamda-node-agent.js" ? bundle : a));
    const built = await exec(Deno.execPath(), args, ROOT);
    assert.equal(built.code, 0, built.stderr);
    // Run from an empty directory without deno.json: the bundle needs nothing but itself and the flags.
    const r = await exec(Deno.execPath(), ["run", "--no-config", ...SET_FLAGS, bundle, "version", "--json"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).version, VERSION);
    const denied = await exec(Deno.execPath(), [
      "run",
      "--no-config",
      ...SET_FLAGS,
      bundle,
      "--env-file",
      "/etc/shadow",
      "config",
    ], dir);
    assert.equal(denied.code, 78);
    assert.match(denied.stderr, /Requires read access to "\/etc\/shadow"/);
  });
});

Deno.test("deno task compile builds the binary with the set, or says why the runtime cannot be downloaded", async () => {
  await withTempDir(async (dir) => {
    const task = meta.tasks.compile.split(" ").slice(1);
    const r = await exec(Deno.execPath(), [...task, "--target", HOST_TARGET, "--out", dir], ROOT);
    if (r.code === EXIT_RUNTIME_UNAVAILABLE) {
      // Not a missing service but a download this machine cannot make (no route to dl.deno.land): the one skip that
      // is also allowed under CI=true, always printed with its reason. DENORT_BIN makes the test run offline.
      assert.ok(runtimeDownloadFailed(r.stderr) || /cannot download its denort runtime/.test(r.stderr), r.stderr);
      const reason = /deno compile cannot download its denort runtime[^\n]*/.exec(r.stderr)?.[0];
      assert.ok(reason, `the compile task names why it cannot download denort: ${r.stderr}`);
      console.warn(
        `SKIP running the compiled binary${
          IN_CI ? " (CI=true: allowed, the runtime cannot be downloaded here)" : ""
        }: ` +
          `${reason}; set DENORT_BIN to a local denort ${Deno.version.deno} binary to run it offline`,
      );
      return;
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /--allow-run=nvidia-smi --no-prompt/);
    const bin = `${dir}/lamda-node-agent-${HOST_TARGET}`;
    const version = await exec(bin, ["version"], dir);
    assert.equal(version.code, 0, version.stderr);
    // `deno compile --quiet` is the binary's log level: no Deno notice (the nvidia-smi resolve line) at start.
    assert.equal(version.stderr, "", "the binary prints nothing but its own output");
    assert.match(version.stdout, new RegExp(`^lamda-node-agent ${VERSION.replaceAll(".", "\\.")} `));
    const help = await exec(bin, ["--help"], dir);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /lamda-node-agent/);
    const denied = await exec(bin, ["--env-file", "/etc/shadow", "config"], dir);
    assert.equal(denied.code, 78);
    assert.match(denied.stderr, /Requires read access to "\/etc\/shadow"/);
  });
});

Deno.test("a failed runtime download is told apart from a failed build", () => {
  const offline = "Download https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip\n" +
    "error: Writing deno compile executable to temporary file\nCaused by:\n    0: Setting up base binary.\n" +
    "    1: error sending request for url (https://dl.deno.land/...): client error (Connect): dns error";
  assert.equal(runtimeDownloadFailed(offline), true);
  assert.equal(runtimeDownloadFailed('error: Module not found "file:///x/src/main.ts"'), false);
  assert.equal(runtimeDownloadFailed("TS2305 [ERROR]: Module has no exported member"), false);
});
