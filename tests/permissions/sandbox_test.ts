/**
 * The agent under exactly its permission set (no -A): what it needs is granted, nothing else is. These runs cover
 * start-up, config, GPU detection and the Docker socket; agent_sandbox_test.ts runs a whole job under the set.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Wallet } from "ethers";
import meta from "../../deno.json" with { type: "json" };
import { loadConfig } from "../../src/config/mod.ts";
import { AGENT_RUNTIME_ENV } from "../../src/runtime_flags.ts";
import { VERSION } from "../../src/version.ts";
import {
  AGENT_PERMISSION_SET,
  auditViolations,
  parseAuditLog,
  permissionFlags,
  permissionSetToFlags,
} from "../../src/permissions/mod.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { freePort } from "../support/ports.ts";
import { serviceAvailable } from "../support/service.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const MAIN = `${ROOT}/src/main.ts`;
const SET_FLAGS = permissionSetToFlags(AGENT_PERMISSION_SET);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run <flags> <script> <args>` in `cwd` with a minimal environment (no inherited agent variables). */
async function denoRun(flags: string[], script: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", `${ROOT}/deno.json`, ...flags, script, ...args],
    cwd,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR: denoDir(), NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // An agent that retried a refusal forever would otherwise hang the test.
    signal: AbortSignal.timeout(120_000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) } satisfies Run;
}

/** The module cache this test process uses, so children need no download. */
function denoDir(): string {
  const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped", stderr: "null" })
    .outputSync();
  return JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lamda-permissions-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno accepts the deno.json permission set with -P and the agent starts under it", async () => {
  const r = await denoRun(["-P", "--no-prompt"], MAIN, ["version"], ROOT);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`lamda-node-agent ${VERSION.replaceAll(".", "\\.")} `));
});

Deno.test("loading and printing config under the set touches nothing outside it (permission audit)", async () => {
  await withTempDir(async (dir) => {
    const secret = "eyJhbGciOiJIUzI1NiJ9.sandbox-secret";
    await Deno.writeTextFile(`${dir}/.env`, `PINATA_JWT=${secret}\nLOG_LEVEL=debug\n`, { mode: 0o600 });
    const audit = `${dir}/audit.jsonl`;
    const r = await denoRun(SET_FLAGS, MAIN, ["config"], dir, {
      DENO_AUDIT_PERMISSIONS: audit,
      IPFS_GATEWAYS: "https://gateway.pinata.cloud",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /LOG_LEVEL\s+debug/);
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), "the JWT must stay redacted");
    const entries = parseAuditLog(await Deno.readTextFile(audit));
    assert.ok(entries.some((e) => e.permission === "read" && e.value === ".env"), "the audit log recorded the run");
    assert.deepEqual(auditViolations(entries, AGENT_PERMISSION_SET, { cwd: dir }), []);
  });
});

Deno.test("the agent cannot read a file outside the set: --env-file /etc/shadow fails with a permission error", async () => {
  await withTempDir(async (dir) => {
    const r = await denoRun(SET_FLAGS, MAIN, ["--env-file", "/etc/shadow", "config"], dir);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /Requires read access to "\/etc\/shadow"/);
    assert.match(r.stderr, /--env-file: "\/etc\/shadow" cannot be read under the agent's permission set/);
    assert.match(r.stderr, /permissions --flags --env-file \/etc\/shadow/);
  });
});

Deno.test("the agent cannot run a binary other than nvidia-smi: exit 78 naming NVIDIA_SMI_PATH", async () => {
  await withTempDir(async (dir) => {
    const r = await denoRun(SET_FLAGS, MAIN, ["--nvidia-smi-path", "/bin/sh", "gpu"], dir);
    assert.equal(r.code, 78, r.stdout + r.stderr);
    assert.match(r.stderr, /NVIDIA_SMI_PATH needs run access to "\/bin\/sh", which the agent's permission set/);
    assert.match(r.stderr, /permissions --flags/);
  });
});

/** What `run` gets on a host set up for the default set, but with the variables in `env` changed. */
function agentEnv(env: Record<string, string>): Record<string, string> {
  return {
    // A key of its own: an agent that gets to Docker removes its address's containers its journal does not know.
    AGENT_PRIVATE_KEY: Wallet.createRandom().privateKey,
    PINATA_JWT: "eyJhbGciOiJIUzI1NiJ9.sandbox.c2ln",
    GPU_REQUIRED: "false",
    // Off: parallel suites may hold the default port, and start-up would stop there first.
    HTTP_ADDR: "",
    ...env,
  };
}

Deno.test("run with DOCKER_HOST outside the set exits 78 naming DOCKER_HOST and `permissions --flags`", async () => {
  await withTempDir(async (dir) => {
    const socket = `${dir}/other.sock`;
    const r = await denoRun(SET_FLAGS, MAIN, ["run"], dir, agentEnv({ DOCKER_HOST: `unix://${socket}` }));
    assert.equal(r.code, 78, r.stderr);
    const told = new RegExp(`DOCKER_HOST needs read access to "${socket}", which the agent's permission set does not`);
    assert.match(r.stderr, told);
    assert.match(r.stderr, /`deno task permissions --flags` prints the flags this configuration needs/);
    // Deno's own wording is not all there is: the message above replaces the uncaught NotCapable.
    assert.doesNotMatch(r.stderr, /run again with the --allow-read flag/);
    assert.doesNotMatch(r.stderr, /Uncaught|"name":"NotCapable"/);
  });
});

Deno.test("run with DATA_DIR or NATS_URL outside the set exits 78 naming that variable, without retrying", async () => {
  await withTempDir(async (dir) => {
    if (!serviceAvailable("dockerd", await dockerMissing())) return;
    // The socket of the test dockerd is granted, so start-up gets past Docker to the step each variable feeds.
    const docker = permissionFlags(loadConfig({ env: { DOCKER_HOST }, cwd: dir }).config, { envFile: ".env" }).flags;
    const outside = await denoRun(docker, MAIN, ["run"], dir, agentEnv({ DOCKER_HOST, DATA_DIR: `${dir}/elsewhere` }));
    assert.equal(outside.code, 78, outside.stderr);
    assert.match(outside.stderr, /DATA_DIR needs write access to "[^"]*\/elsewhere"/);
    const started = performance.now();
    const nats = await denoRun(
      docker,
      MAIN,
      ["run"],
      dir,
      agentEnv({ DOCKER_HOST, NATS_URL: "nats://127.0.0.2:4333" }),
    );
    assert.equal(nats.code, 78, nats.stderr);
    assert.match(nats.stderr, /NATS_URL needs net access to "127\.0\.0\.2:4333"/);
    assert.ok(performance.now() - started < 30_000, "a refused server is not retried");
  });
});

Deno.test("doctor under the set reports a refused DOCKER_HOST as a FAIL row naming it, and goes on", async () => {
  await withTempDir(async (dir) => {
    const socket = `${dir}/other.sock`;
    const r = await denoRun(
      SET_FLAGS,
      MAIN,
      ["doctor", "--offline", "--json"],
      dir,
      agentEnv({
        DOCKER_HOST: `unix://${socket}`,
      }),
    );
    assert.equal(r.code, 1, r.stderr);
    const checks: { name: string; level: string; found: string; fix?: string }[] = JSON.parse(r.stdout).checks;
    const docker = checks.find((c) => c.name === "docker")!;
    assert.equal(docker.level, "fail");
    assert.match(docker.found, new RegExp(`^DOCKER_HOST needs read access to "${socket}"`));
    assert.match(docker.fix ?? "", /permissions --flags/);
    assert.equal(checks.find((c) => c.name === "data_dir")?.level, "pass", "the other checks still run");
  });
});

Deno.test("deno task start prints no Deno notice: no experimental-permissions warning, no nvidia-smi resolve line", async () => {
  // The task's leading `NAME=value` words are its environment (AGENT_RUNTIME_ENV, which runtime_flags_test checks).
  const words = meta.tasks.start.split(" ");
  const envWords = words.filter((w) => /^[A-Z_]+=/.test(w));
  const [deno, ...args] = words.slice(envWords.length);
  assert.deepEqual(Object.fromEntries(envWords.map((w) => w.split("="))), AGENT_RUNTIME_ENV);
  assert.equal(deno, "deno");
  assert.ok(args.includes("-P"), "start uses the deno.json set");
  const flags = args.slice(1).filter((a) => a !== "src/main.ts");
  const r = await denoRun(flags, MAIN, ["version"], ROOT, { ...AGENT_RUNTIME_ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /experimental/);
  assert.doesNotMatch(r.stderr, /Failed to resolve/);
  assert.equal(r.stderr, "");
});

Deno.test("under the set, reads, writes, runs, connections and env outside it fail with NotCapable", async () => {
  await withTempDir(async (dir) => {
    const blocked = freePort();
    const probe = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      `const results: Record<string, string> = {};
async function attempt(name: string, fn: () => unknown) {
  try { await fn(); results[name] = "ok"; } catch (e) { results[name] = (e as Error).name; }
}
await attempt("read ~/.ssh", () => Deno.readDir("/root/.ssh")[Symbol.asyncIterator]().next());
await attempt("read /etc/shadow", () => Deno.readTextFile("/etc/shadow"));
await attempt("read /etc/passwd", () => Deno.readTextFile("/etc/passwd"));
await attempt("run /bin/sh", () => new Deno.Command("/bin/sh", { args: ["-c", "true"] }).output());
await attempt("run ls", () => new Deno.Command("ls").output());
await attempt("connect unlisted", () => Deno.connect({ hostname: "127.0.0.1", port: ${blocked} }));
await attempt("fetch unlisted", () => fetch("https://example.com/"));
await attempt("listen unlisted", () => Deno.listen({ hostname: "0.0.0.0", port: ${blocked} }).close());
await attempt("write outside data", () => Deno.writeTextFile("outside.txt", "x"));
await attempt("write /tmp", () => Deno.writeTextFile("/tmp/lamda-permissions-escape", "x"));
await attempt("env HOME", () => Deno.env.get("HOME"));
await attempt("env toObject hides the rest", () => { if ("PATH" in Deno.env.toObject()) throw new Error("PATH visible"); });
await attempt("sys hostname", () => Deno.hostname());
await attempt("write inside data", async () => { await Deno.mkdir("data", { recursive: true }); await Deno.writeTextFile("data/ok.txt", "x"); });
await attempt("ignored env", () => { if (Deno.env.get("WS_NO_BUFFER_UTIL") !== undefined) throw new Error("not ignored"); });
console.log(JSON.stringify(results));
`,
    );
    const r = await denoRun(SET_FLAGS, probe, [], dir, { WS_NO_BUFFER_UTIL: "1" });
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    const denied = Object.keys(results).filter((k) =>
      !["write inside data", "ignored env", "env toObject hides the rest"].includes(k)
    );
    for (const name of denied) assert.equal(results[name], "NotCapable", `${name}: ${results[name]}`);
    assert.equal(results["write inside data"], "ok");
    assert.equal(results["ignored env"], "ok");
    assert.equal(results["env toObject hides the rest"], "ok");
    assert.equal(await Deno.readTextFile(`${dir}/data/ok.txt`), "x");
    await assert.rejects(Deno.stat(`${dir}/outside.txt`), Deno.errors.NotFound);
  });
});

Deno.test("the Docker socket named in DOCKER_HOST is reachable under the flags derived for it", async () => {
  if (!serviceAvailable("dockerd", await dockerMissing())) return;
  await withTempDir(async (dir) => {
    const derived = permissionFlags(loadConfig({ env: { DOCKER_HOST }, cwd: dir }).config, {
      envFile: ".env",
      cwd: dir,
    });
    const probe = `${dir}/docker_probe.ts`;
    await Deno.writeTextFile(
      probe,
      `import { DockerClient } from "${ROOT}/src/docker/client.ts";
const docker = new DockerClient(${JSON.stringify(DOCKER_HOST)});
try { console.log(await (await docker.request("GET", "/_ping")).text()); } finally { docker.close(); }
`,
    );
    const audit = `${dir}/audit.jsonl`;
    const r = await denoRun(derived.flags, probe, [], dir, { DENO_AUDIT_PERMISSIONS: audit });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "OK");
    const entries = parseAuditLog(await Deno.readTextFile(audit));
    assert.ok(entries.some((e) => e.permission === "net" && e.value?.startsWith("unix:")));
    assert.deepEqual(auditViolations(entries, derived, { cwd: dir }), []);
  });
});
