import assert from "node:assert/strict";
import { type CliIo, EXIT, runCli } from "./main.ts";
import { COMMANDS, DEFAULT_COMMAND } from "./commands.ts";
import type { Command } from "./command.ts";

const KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYW1kYS10ZXN0In0.c2lnbmF0dXJlLW9mLXRlc3Q";

/** Runs the CLI with captured output; `files` plays the file system. */
async function cli(
  argv: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
  extra: Command[] = [],
) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env: (n) => env[n],
    readTextFile: (p) => (p in files ? Promise.resolve(files[p]) : Promise.reject(new Deno.errors.NotFound(p))),
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    signal: new AbortController().signal,
  };
  const code = await runCli(argv, io, { commands: [...COMMANDS, ...extra], fallback: DEFAULT_COMMAND });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("version prints the version from deno.json", async () => {
  const meta = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const r = await cli(["version"]);
  assert.equal(r.code, 0);
  assert.match(r.out, new RegExp(`^lamda-node-agent ${meta.version.replaceAll(".", "\\.")} \\(deno `));
  const j = await cli(["version", "--json"]);
  assert.equal(JSON.parse(j.out).version, meta.version);
});

Deno.test("unknown command prints usage on stderr and exits 2", async () => {
  const r = await cli(["frobnicate"]);
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /Unknown command "frobnicate"/);
  assert.match(r.err, /Usage: lamda-node-agent/);
  assert.equal(r.out, "");
});

Deno.test("unknown flag prints the command's usage on stderr and exits 2", async () => {
  for (const argv of [["config", "--frob"], ["--nope"], ["version", "-x"]]) {
    const r = await cli(argv);
    assert.equal(r.code, EXIT.usage, argv.join(" "));
    assert.match(r.err, /error: Unknown option/);
    assert.match(r.err, /Usage: lamda-node-agent/);
  }
});

Deno.test("an unexpected positional argument is a usage error", async () => {
  const r = await cli(["config", "extra"]);
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /Unexpected argument "extra"/);
});

Deno.test("--help works for the program and for each command", async () => {
  const top = await cli(["--help"]);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.ok(top.out.includes(`  ${c.name} `), `program help lists ${c.name}`);
  for (const c of COMMANDS) {
    const r = await cli([c.name, "--help"]);
    assert.equal(r.code, 0, `${c.name} --help`);
    assert.match(r.out, new RegExp(`Usage: lamda-node-agent ${c.name}`));
  }
});

Deno.test("config shows each value's source and never a secret", async () => {
  const r = await cli(
    ["config", "--log-level", "debug", "--env-file", "/srv/agent.env"],
    { NATS_URL: "nats://user:pw-secret@nats:4222", PINATA_JWT: JWT },
    { "/srv/agent.env": `AGENT_PRIVATE_KEY=${KEY}\nDATA_DIR=/var/lib/lamda\n` },
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /LOG_LEVEL\s+debug\s+flag --log-level/);
  assert.match(r.out, /DATA_DIR\s+\/var\/lib\/lamda\s+\/srv\/agent\.env:2/);
  assert.match(r.out, /AGENT_PRIVATE_KEY\s+\[REDACTED\]\s+\/srv\/agent\.env:1/);
  assert.match(r.out, /PINATA_JWT\s+\[REDACTED\]\s+environment/);
  assert.match(r.out, /NATS_URL\s+nats:\/\/\*\*\*:\*\*\*@nats:4222\s+environment/);
  assert.match(r.out, /DOCKER_HOST\s+unix:\/\/\/var\/run\/docker\.sock\s+default/);
  for (const text of [r.out, r.err]) {
    assert.ok(!text.includes(KEY.slice(2)), "private key leaked");
    assert.ok(!text.includes(JWT), "JWT leaked");
    assert.ok(!text.includes("pw-secret"), "NATS password leaked");
  }
  const j = await cli(["config", "--json"], { AGENT_PRIVATE_KEY: KEY });
  const row = JSON.parse(j.out).find((x: { variable: string }) => x.variable === "AGENT_PRIVATE_KEY");
  assert.deepEqual(row, { variable: "AGENT_PRIVATE_KEY", value: "[REDACTED]", source: "environment" });
});

Deno.test("a missing default .env is fine; a missing --env-file is an error", async () => {
  assert.equal((await cli(["config"])).code, 0);
  const r = await cli(["config", "--env-file", "/nowhere/.env"]);
  assert.equal(r.code, EXIT.config);
  assert.match(r.err, /--env-file: "\/nowhere\/.env" cannot be read/);
});

Deno.test("config errors exit 78 and list every problem without the secret", async () => {
  const bad = KEY.slice(0, 40);
  const r = await cli(["config"], { AGENT_PRIVATE_KEY: bad, LOG_LEVEL: "loud" });
  assert.equal(r.code, EXIT.config);
  assert.match(r.err, /2 problems/);
  assert.match(r.err, /AGENT_PRIVATE_KEY: "\[REDACTED\]"/);
  assert.ok(!r.err.includes(bad.slice(2)), "partial private key leaked");
});

Deno.test("debug logs never contain the private key, even when a command logs it", async () => {
  const leaky: Command = {
    name: "leaky",
    summary: "test command that tries to log secrets",
    run(ctx) {
      ctx.logger.debug(`key is ${ctx.loaded.config.privateKey}`, {
        key: ctx.loaded.config.privateKey,
        nested: { jwt: ctx.loaded.config.pinataJwt, bare: KEY.slice(2) },
      });
      ctx.logger.child({ component: "x" }).error("failed", { error: new Error(`bad key ${KEY}`) });
      return Promise.resolve(0);
    },
  };
  const r = await cli(["leaky"], { AGENT_PRIVATE_KEY: KEY, PINATA_JWT: JWT, LOG_LEVEL: "debug" }, {}, [leaky]);
  assert.equal(r.code, 0);
  const lines = r.err.trim().split("\n");
  assert.equal(lines.length, 2, "both records were written");
  for (const line of lines) JSON.parse(line);
  assert.match(r.err, /\[REDACTED\]/);
  assert.ok(!r.err.includes(KEY.slice(2)), "private key leaked into logs");
  assert.ok(!r.err.includes(JWT), "JWT leaked into logs");
});

Deno.test("run without a key names the missing variable", async () => {
  const r = await cli(["run"]);
  assert.equal(r.code, EXIT.config);
  assert.match(r.err, /AGENT_PRIVATE_KEY: \(or AGENT_KEYSTORE\) is required/);
});

Deno.test("a .env holding the key and readable by others is refused with the chmod fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/agent.env`;
    await Deno.writeTextFile(path, `AGENT_PRIVATE_KEY=${KEY}\n`, { mode: 0o644 });
    await Deno.chmod(path, 0o644);
    const err: string[] = [];
    const io: CliIo = {
      env: () => undefined,
      readTextFile: (p) => Deno.readTextFile(p),
      stdout: () => {},
      stderr: (l) => err.push(l),
      signal: new AbortController().signal,
    };
    const options = { commands: COMMANDS, fallback: DEFAULT_COMMAND };
    const code = await runCli(["run", "--env-file", path], io, options);
    assert.equal(code, EXIT.failure);
    assert.match(err.join("\n"), new RegExp(`chmod 600 ${path.replaceAll("/", "\\/")}`));
    assert.ok(!err.join("\n").includes(KEY.slice(2)));
    // `config` does not use the key, so it still shows the (redacted) configuration.
    assert.equal(await runCli(["config", "--env-file", path], io, options), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
