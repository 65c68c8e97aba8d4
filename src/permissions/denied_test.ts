import assert from "node:assert/strict";
import { loadConfig } from "../config/mod.ts";
import { deniedAccess, explainDenial, permissionsHint } from "./denied.ts";

const CWD = "/srv/agent";

/** A NotCapable as Deno throws it. */
function notCapable(kind: string, target?: string): Error {
  const to = target === undefined ? "" : ` to "${target}"`;
  return new Deno.errors.NotCapable(`Requires ${kind} access${to}, run again with the --allow-${kind} flag`);
}

function config(env: Record<string, string>) {
  return loadConfig({ env, cwd: CWD }).config;
}

Deno.test("a NotCapable is found through causes and aggregates, and parsed into kind and target", () => {
  const wrapped = new Error("Cannot start (gpu)", { cause: new Error("spawn", { cause: notCapable("run", "/x") }) });
  assert.deepEqual(deniedAccess(wrapped), { kind: "run", target: "/x" });
  assert.deepEqual(deniedAccess(new AggregateError([new Error("a"), notCapable("net", "h:1")])), {
    kind: "net",
    target: "h:1",
  });
  assert.deepEqual(deniedAccess(notCapable("env")), { kind: "env" });
  // A wrapper that kept only Deno's message (no cause) is recognised by it.
  assert.deepEqual(
    deniedAccess(
      new Error(`Cannot read the keystore /k: Requires read access to "/k", run again with the --allow-read flag`),
    ),
    { kind: "read", target: "/k" },
  );
});

Deno.test("errors that are not sandbox refusals, OS permission errors included, are not taken for one", () => {
  assert.equal(deniedAccess(new Deno.errors.PermissionDenied("Permission denied (os error 13)")), undefined);
  assert.equal(deniedAccess(new Error("connection refused", { cause: new Error("ECONNREFUSED") })), undefined);
  assert.equal(deniedAccess("a string"), undefined);
  const loop: Error & { cause?: unknown } = new Error("loop");
  loop.cause = loop;
  assert.equal(deniedAccess(loop), undefined);
});

Deno.test("each refused path, host or executable is blamed on the variable whose value needs it", () => {
  const c = config({
    DOCKER_HOST: "unix:///run/other.sock",
    DATA_DIR: "/srv/state",
    NATS_URL: "nats://user:nats-secret-pw@nats.example:4333",
    OPBNB_RPC_URL: "https://rpc.example",
    PINATA_API_URL: "http://127.0.0.1:5080",
    IPFS_GATEWAYS: "https://gw.example",
    AGENT_KEYSTORE: "keys/agent.json",
    HTTP_ADDR: "0.0.0.0:9100",
    NVIDIA_SMI_PATH: "/opt/nvidia/bin/nvidia-smi",
  });
  const blame = (error: Error) => explainDenial(error, c, { cwd: CWD, runtime: "binary" })?.variables;
  assert.deepEqual(blame(notCapable("read", "/run/other.sock")), ["DOCKER_HOST"]);
  assert.deepEqual(blame(notCapable("write", "/srv/state/jobs/j1/input")), ["DATA_DIR"]);
  assert.deepEqual(blame(notCapable("net", "nats.example:4333")), ["NATS_URL"]);
  assert.deepEqual(blame(notCapable("net", "rpc.example:443")), ["OPBNB_RPC_URL"]);
  assert.deepEqual(blame(notCapable("net", "127.0.0.1:5080")), ["PINATA_API_URL"]);
  assert.deepEqual(blame(notCapable("net", "gw.example:443")), ["IPFS_GATEWAYS"]);
  assert.deepEqual(blame(notCapable("read", "/srv/agent/keys/agent.json")), ["AGENT_KEYSTORE"]);
  assert.deepEqual(blame(notCapable("net", "0.0.0.0:9100")), ["HTTP_ADDR"]);
  assert.deepEqual(blame(notCapable("run", "/opt/nvidia/bin/nvidia-smi")), ["NVIDIA_SMI_PATH"]);
  assert.deepEqual(blame(notCapable("read", "/etc/passwd")), []);
  assert.deepEqual(blame(notCapable("env", "HOME")), []);
  assert.equal(explainDenial(new Error("unrelated"), c, { cwd: CWD }), undefined);
});

Deno.test("the explanation names the variable and the command printing the flags, never a secret value", () => {
  const c = config({ NATS_URL: "nats://user:nats-secret-pw@nats.example:4333", DOCKER_HOST: "unix:///run/other.sock" });
  const r = explainDenial(notCapable("read", "/run/other.sock"), c, {
    cwd: CWD,
    envFile: "agent.env",
    runtime: "binary",
  })!;
  assert.equal(
    r.problem,
    `DOCKER_HOST needs read access to "/run/other.sock", which the agent's permission set does not grant`,
  );
  assert.match(r.fix, /`lamda-node-agent --env-file \/srv\/agent\/agent\.env permissions --flags`/);
  assert.match(r.fix, /deno task compile --env-file \/srv\/agent\/agent\.env/);
  const nats = explainDenial(notCapable("net", "nats.example:4333"), c, { cwd: CWD, runtime: "binary" })!;
  assert.match(nats.problem, /^NATS_URL needs net access to "nats\.example:4333"/);
  for (const text of [r.problem, r.fix, nats.problem, nats.fix]) assert.ok(!text.includes("nats-secret-pw"));
  const unknown = explainDenial(notCapable("env"), c, { cwd: CWD, runtime: "binary" })!;
  assert.match(unknown.problem, /the agent needs env access, which its permission set does not grant \(no setting/);
});

Deno.test("the hint gives the command for the way the agent runs", () => {
  assert.match(permissionsHint({ runtime: "source" }), /`deno task permissions --flags` prints/);
  assert.match(permissionsHint({ runtime: "source", envFile: "/e/a b.env" }), /--flags --env-file '\/e\/a b\.env'/);
  assert.match(permissionsHint({ runtime: "bundle" }), /`permissions --flags` in place of the command/);
  assert.match(permissionsHint({ runtime: "binary" }), /`lamda-node-agent permissions --flags` prints/);
});
