import assert from "node:assert/strict";
import { type CliIo, EXIT, runCli } from "./main.ts";
import { COMMANDS, DEFAULT_COMMAND } from "./commands.ts";
import type { Command } from "../command.ts";

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

Deno.test("a .env holding the key and readable by others: run and status exit 78 naming the file and the chmod fix", async () => {
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
    for (const command of ["run", "status"]) {
      err.length = 0;
      const code = await runCli([command, "--env-file", path], io, options);
      assert.equal(code, EXIT.config, `${command}: ${err.join("\n")}`);
      const text = err.join("\n");
      assert.match(text, new RegExp(`^The \\.env file ${path} holds AGENT_PRIVATE_KEY .*\\(mode 0644\\)`));
      assert.match(text, new RegExp(`run "chmod 600 ${path}"`));
      assert.throws(() => JSON.parse(text), "a message for people, not a JSON log line");
      assert.ok(!text.includes(KEY.slice(2)));
    }
    // `config` does not use the key, so it still shows the (redacted) configuration.
    assert.equal(await runCli(["config", "--env-file", path], io, options), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown flag is named with the nearest known flag, and the word after it is not taken for the command", async () => {
  const r = await cli(["--log-levle", "debug", "config"]);
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /^error: Unknown option --log-levle — did you mean --log-level\?/);
  assert.doesNotMatch(r.err, /Unknown command/);
  assert.match(r.err, /Usage: lamda-node-agent config/, "the named command's usage");
  assert.equal(r.out, "");
  // The command's own options are candidates too, and an option of another command says whose it is.
  assert.match((await cli(["config", "--jsn"])).err, /Unknown option --jsn — did you mean --json\?/);
  assert.match((await cli(["config", "--image", "x"])).err, /Unknown option --image \(an option of submit\)/);
  // Nothing close: no guess.
  assert.match((await cli(["config", "--frobnicate"])).err, /Unknown option --frobnicate\n/);
});

Deno.test("a mistyped command gets the nearest command as a suggestion", async () => {
  const r = await cli(["stauts"]);
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /^error: Unknown command "stauts" — did you mean "status"\?/);
  assert.match((await cli(["ipfs"])).err, /Unknown command "ipfs" — did you mean "ipfs-dev"\?/);
  assert.match((await cli(["frobnicate"])).err, /Unknown command "frobnicate"\n/);
});

Deno.test("--version and -v print what version prints, even when the configuration is broken", async () => {
  const expected = (await cli(["version"])).out;
  for (const argv of [["--version"], ["-v"], ["config", "--version"]]) {
    const r = await cli(argv, { LOG_LEVEL: "loud" }, { ".env": "not a line\n" });
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.err}`);
    assert.equal(r.out, expected, argv.join(" "));
  }
  const j = await cli(["-v", "--json"]);
  assert.equal(j.code, 0, j.err);
  assert.equal(JSON.parse(j.out).name, "lamda-node-agent");
});

Deno.test("help prints the program's help, help <command> that command's", async () => {
  const top = await cli(["help"]);
  assert.equal(top.code, 0);
  assert.equal(top.out, (await cli(["--help"])).out);
  assert.match(top.out, /^ {2}help +show this help/m);
  assert.match(top.out, /-v, --version/);
  const submit = await cli(["help", "submit"]);
  assert.equal(submit.code, 0);
  assert.equal(submit.out, (await cli(["submit", "--help"])).out);
  assert.match(submit.out, /^Usage: lamda-node-agent submit --image IMAGE \[options\]$/m);
  assert.match(submit.out, /--image IMAGE +the job's Docker image \(required\)/);
  const typo = await cli(["help", "sumbit"]);
  assert.equal(typo.code, EXIT.usage);
  assert.match(typo.err, /Unknown command "sumbit" — did you mean "submit"\?/);
  assert.match((await cli(["help", "submit", "extra"])).err, /Unexpected argument "extra"/);
});

Deno.test("a missing required option is a usage error on stderr (exit 2), not a log line", async () => {
  for (const argv of [["submit"], ["submit", "--image="], ["submit", "--json"]]) {
    const r = await cli(argv);
    assert.equal(r.code, EXIT.usage, argv.join(" "));
    assert.match(r.err, /^error: Missing required option --image IMAGE\n/, argv.join(" "));
    assert.match(r.err, /Usage: lamda-node-agent submit --image IMAGE/);
    assert.ok(!r.err.split("\n").some((l) => l.startsWith("{")), "no JSON log line");
    assert.equal(r.out, "");
  }
  assert.equal((await cli(["submit", "--help"])).code, 0, "help needs no required option");
});

Deno.test("verify-receipt without a file, or with two, prints its usage and exits 2", async () => {
  for (
    const [argv, message] of [
      [["verify-receipt"], /^error: Missing argument <receipt\.json\|->\n/],
      [["verify-receipt", "a.json", "b.json"], /^error: Unexpected argument "b\.json"\n/],
    ] as const
  ) {
    const r = await cli([...argv]);
    assert.equal(r.code, EXIT.usage, argv.join(" "));
    assert.match(r.err, message);
    assert.match(r.err, /Usage: lamda-node-agent verify-receipt \[options\] <receipt\.json\|->/);
  }
});

Deno.test("declared positionals are counted by the parser: required, optional and variadic", async () => {
  const seen: string[][] = [];
  const run = (ctx: { args: string[] }) => (seen.push(ctx.args), Promise.resolve(0));
  const copy: Command = {
    name: "copy",
    summary: "test command",
    positionals: [{ name: "from" }, { name: "to", optional: true }],
    run,
  };
  const cat: Command = { name: "cat", summary: "test command", positionals: [{ name: "file", variadic: true }], run };
  const extra = [copy, cat];
  assert.equal((await cli(["copy", "a"], {}, {}, extra)).code, 0);
  assert.equal((await cli(["copy", "a", "b"], {}, {}, extra)).code, 0);
  assert.equal((await cli(["cat", "a", "b", "c"], {}, {}, extra)).code, 0);
  assert.deepEqual(seen, [["a"], ["a", "b"], ["a", "b", "c"]]);
  const none = await cli(["copy"], {}, {}, extra);
  assert.equal(none.code, EXIT.usage);
  assert.match(none.err, /Missing argument <from>/);
  assert.match(none.err, /Usage: lamda-node-agent copy <from> \[to\]/);
  assert.match((await cli(["copy", "a", "b", "c"], {}, {}, extra)).err, /Unexpected argument "c"/);
  assert.match((await cli(["cat"], {}, {}, extra)).err, /Missing argument <file>\.\.\./);
  assert.deepEqual(seen.length, 3, "no run after a usage error");
});

Deno.test("a sandbox refusal anywhere in a command's error chain exits 78 naming the variable and the flags command", async () => {
  const denied: Command = {
    name: "denied",
    summary: "test command that hits the permission sandbox",
    run() {
      const cause = new Deno.errors.NotCapable(
        `Requires read access to "/run/other.sock", run again with the --allow-read flag`,
      );
      return Promise.reject(new Error("Cannot start (docker): connect failed", { cause }));
    },
  };
  const r = await cli(["denied"], { DOCKER_HOST: "unix:///run/other.sock", PINATA_JWT: JWT }, {}, [denied]);
  assert.equal(r.code, EXIT.config, r.err);
  assert.match(r.err, /^Permission denied: DOCKER_HOST needs read access to "\/run\/other\.sock"/);
  assert.match(r.err, /permissions --flags/);
  assert.throws(() => JSON.parse(r.err.split("\n")[0]), "a message for people, not a JSON log line");
  assert.ok(!r.err.includes(JWT));
});
