import assert from "node:assert/strict";
import meta from "../../deno.json" with { type: "json" };
import { varList } from "../config/mod.ts";
import {
  AGENT_PERMISSION_SET,
  IGNORED_ENV,
  INSTALL_CONFIG_DIR,
  parsePermissionSet,
  permissionSetToFlags,
  shellLine,
} from "./permission_set.ts";
import { PermissionsError } from "./errors.ts";

Deno.test("deno.json env allow list is exactly the config schema's variables, in schema order", () => {
  const schema = varList().map(([, spec]) => spec.env);
  assert.deepEqual(
    AGENT_PERMISSION_SET.env,
    schema,
    "deno.json permissions.default.env.allow is out of date: run `deno run --allow-read=deno.json,src " +
      "--allow-write=deno.json scripts/sync_permission_env.ts`",
  );
});

Deno.test("deno.json ignores exactly the env probes of ethers' WebSocket dependency", () => {
  assert.deepEqual(AGENT_PERMISSION_SET.ignoreEnv, [...IGNORED_ENV]);
  for (const name of IGNORED_ENV) assert.ok(!AGENT_PERMISSION_SET.env.includes(name), `${name} must not be allowed`);
});

Deno.test("the agent's set runs nvidia-smi only, asks only filesystem usage, and reads only its own paths", () => {
  assert.deepEqual(AGENT_PERMISSION_SET.run, ["nvidia-smi"]);
  assert.deepEqual(AGENT_PERMISSION_SET.sys, ["statfs"], "Docker's disk usage for the image watermarks");
  // Docker's data root for its filesystem usage (statfs) only: the image watermarks.
  assert.deepEqual(AGENT_PERMISSION_SET.read, [
    "./data",
    "./.env",
    INSTALL_CONFIG_DIR,
    "/var/run/docker.sock",
    "/var/lib/docker",
  ]);
  assert.deepEqual(AGENT_PERMISSION_SET.write, ["./data", "/var/run/docker.sock"]);
});

Deno.test("the agent's set reaches the Docker socket, default NATS, opBNB RPC, Pinata and the HTTP endpoint only", () => {
  assert.deepEqual(AGENT_PERMISSION_SET.net, [
    "unix:/var/run/docker.sock",
    "localhost:80",
    "127.0.0.1:4222",
    "opbnb-testnet-rpc.bnbchain.org:443",
    "trustless-gateway.link:443",
    "ipfs.io:443",
    "api.pinata.cloud:443",
    "127.0.0.1:9464",
  ]);
});

Deno.test("deno.json grants no kind wholesale and names no kind the agent does not use", () => {
  const raw = (meta as unknown as { permissions: { default: Record<string, unknown> } }).permissions.default;
  assert.deepEqual(Object.keys(raw).sort(), ["env", "net", "read", "run", "sys", "write"]);
  for (const [kind, value] of Object.entries(raw)) assert.notEqual(value, true, `${kind} must list what it allows`);
});

Deno.test("a set granting a whole kind, denying, or naming ffi is refused with the set named", () => {
  assert.throws(() => parsePermissionSet({ default: { net: true } }), PermissionsError);
  assert.throws(() => parsePermissionSet({ default: { ffi: ["x.so"] } }), /permission set "default"/);
  assert.throws(() => parsePermissionSet({ default: { read: { allow: ["a"], deny: ["b"] } } }), /deny/);
  assert.throws(() => parsePermissionSet({}, "missing"), /permission set "missing"/);
});

Deno.test("flags keep relative paths relative so a compiled binary resolves them where it runs", () => {
  const flags = permissionSetToFlags({
    read: ["./data", "./.env"],
    write: ["./data"],
    net: ["a:1", "a:1", "b:2"],
    env: ["X"],
    ignoreEnv: ["Y"],
    run: ["nvidia-smi"],
    sys: [],
  });
  assert.deepEqual(flags, [
    "--allow-read=./data,./.env",
    "--allow-write=./data",
    "--allow-net=a:1,b:2",
    "--allow-env=X",
    "--ignore-env=Y",
    "--allow-run=nvidia-smi",
    "--no-prompt",
  ]);
});

Deno.test("a path holding a comma cannot be granted precisely and is refused", () => {
  const set = { ...AGENT_PERMISSION_SET, read: ["/srv/a,b"] };
  assert.throws(() => permissionSetToFlags(set), /holds a comma/);
});

Deno.test("shell lines quote only what a shell would split", () => {
  assert.equal(shellLine(["--allow-read=/a/b,./c", "--no-prompt"]), "--allow-read=/a/b,./c --no-prompt");
  assert.equal(shellLine(["--allow-read=/my data/x"]), "'--allow-read=/my data/x'");
  assert.equal(shellLine(["--allow-read=/it's"]), `'--allow-read=/it'\\''s'`);
});
