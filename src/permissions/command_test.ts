import assert from "node:assert/strict";
import { runCli } from "../cli/main.ts";
import { permissionsCommand } from "./command.ts";

const SECRET_JWT = "eyJhbGciOiJIUzI1NiJ9.permissions-test-secret";
const SECRET_NATS = "nats-password-permissions-test";

/** Runs the CLI with only the permissions command, a fake .env and environment; returns exit code and output. */
async function cli(argv: string[], files: Record<string, string>, env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    env: (name) => env[name],
    readTextFile: (path) => {
      if (path in files) return Promise.resolve(files[path]);
      return Promise.reject(new Deno.errors.NotFound(path));
    },
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    signal: new AbortController().signal,
  }, { commands: [permissionsCommand], fallback: permissionsCommand });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const ENV_FILE = [
  "DATA_DIR=/var/lib/lamda-node-agent/data",
  "NATS_URL=nats://nats.example:4222",
  `NATS_USER=agent`,
  `NATS_PASSWORD=${SECRET_NATS}`,
  `PINATA_JWT=${SECRET_JWT}`,
  "OPBNB_RPC_URL=https://rpc.example",
  "AGENT_KEYSTORE=/etc/lamda-node-agent/keystore.json",
  "AGENT_KEYSTORE_PASSWORD_FILE=/etc/lamda-node-agent/keystore.password",
].join("\n");

Deno.test("permissions --flags prints one line of deno flags for the operator's .env", async () => {
  const r = await cli(["permissions", "--flags", "--env-file", "/etc/lamda-node-agent/agent.env"], {
    "/etc/lamda-node-agent/agent.env": ENV_FILE,
  });
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split("\n");
  assert.equal(lines.length, 1);
  const flags = lines[0].split(" ");
  assert.ok(
    flags.includes(
      "--allow-read=/var/lib/lamda-node-agent/data,/etc/lamda-node-agent/agent.env," +
        "/etc/lamda-node-agent/keystore.json,/etc/lamda-node-agent/keystore.password,/var/run/docker.sock,/var/lib/docker",
    ),
    lines[0],
  );
  assert.ok(flags.includes("--allow-write=/var/lib/lamda-node-agent/data,/var/run/docker.sock"), lines[0]);
  assert.ok(flags.some((f) => f.startsWith("--allow-net=unix:/var/run/docker.sock,localhost:80,nats.example:4222,")));
  assert.ok(flags.some((f) => f.includes("rpc.example:443")));
  assert.ok(flags.includes("--allow-run=nvidia-smi"));
  assert.ok(flags.includes("--no-prompt"));
  assert.ok(flags.includes("--allow-sys=statfs"), "filesystem usage only (Docker's disk): no other system information");
});

Deno.test("permissions --json gives each kind as a list, relative paths made absolute", async () => {
  const r = await cli(["permissions", "--json"], {}, { DATA_DIR: "rel/data" });
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(Object.keys(j).sort(), ["env", "flags", "ignoreEnv", "net", "read", "run", "sys", "write"]);
  assert.equal(j.read[0], `${Deno.cwd()}/rel/data`);
  assert.equal(j.read[1], `${Deno.cwd()}/.env`, "the default .env is readable even when it does not exist");
  assert.ok(j.env.includes("DATA_DIR") && j.env.includes("PINATA_JWT"));
});

Deno.test("permissions output never contains a secret of the configuration", async () => {
  for (const mode of [[], ["--flags"], ["--json"]]) {
    const r = await cli(["permissions", ...mode, "--env-file", "/x/agent.env"], { "/x/agent.env": ENV_FILE });
    assert.equal(r.code, 0, r.err);
    assert.ok(!r.out.includes(SECRET_JWT) && !r.out.includes(SECRET_NATS), `secret leaked with ${mode}`);
    assert.ok(!r.err.includes(SECRET_JWT) && !r.err.includes(SECRET_NATS));
  }
});

Deno.test("permissions without options lists each kind and ends with the flags line", async () => {
  const r = await cli(["permissions"], {});
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split("\n");
  assert.match(lines[0], /^read\s+\S+\/data, \S+\/\.env, \/var\/run\/docker\.sock, \/var\/lib\/docker$/);
  assert.match(lines.find((l) => l.startsWith("run")) ?? "", /^run\s+nvidia-smi$/);
  assert.match(lines.at(-1)!, /^--allow-read=.* --no-prompt$/);
});
