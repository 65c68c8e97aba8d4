import assert from "node:assert/strict";
import { loadConfig, varList } from "../config/mod.ts";
import { hostPort, listenAddr, permissionFlags } from "./derive.ts";
import { AGENT_PERMISSION_SET, INSTALL_CONFIG_DIR } from "./permission_set.ts";
import { resolvePath } from "./audit.ts";

const CWD = "/srv/agent";

Deno.test("the default config derives exactly the deno.json set (the install config dir aside)", () => {
  const { config } = loadConfig({ cwd: CWD });
  const d = permissionFlags(config, { envFile: ".env", cwd: CWD });
  const abs = (list: string[]) => list.map((p) => (p.startsWith("/") ? p : resolvePath(p, CWD)));
  assert.deepEqual(d.read, abs(AGENT_PERMISSION_SET.read.filter((p) => p !== INSTALL_CONFIG_DIR)));
  assert.deepEqual(d.write, abs(AGENT_PERMISSION_SET.write));
  assert.deepEqual(d.net, AGENT_PERMISSION_SET.net);
  assert.deepEqual(d.env, AGENT_PERMISSION_SET.env);
  assert.deepEqual(d.ignoreEnv, AGENT_PERMISSION_SET.ignoreEnv);
  assert.deepEqual(d.run, AGENT_PERMISSION_SET.run);
  assert.deepEqual(d.sys, AGENT_PERMISSION_SET.sys);
});

Deno.test("an operator's .env moves every path, socket and host into the flags", () => {
  const { config } = loadConfig({
    env: {
      DATA_DIR: "state",
      DOCKER_HOST: "unix:///run/user/1000/docker.sock",
      NATS_URL: "nats://nats-1.example:4333,tls://nats-2.example,wss://nats-ws.example",
      NATS_CREDS: "/etc/lamda/agent.creds",
      OPBNB_RPC_URL: "https://rpc-a.example,http://10.0.0.5:8545",
      IPFS_GATEWAYS: "https://gw.example,http://127.0.0.1:8080",
      PINATA_GATEWAY: "https://mine.mypinata.cloud",
      PINATA_API_URL: "http://127.0.0.1:5080",
      AGENT_KEYSTORE: "keys/agent.json",
      AGENT_KEYSTORE_PASSWORD_FILE: "/etc/lamda/password",
      NVIDIA_SMI_PATH: "/usr/bin/nvidia-smi",
    },
    cwd: CWD,
  });
  const d = permissionFlags({ ...config, httpAddr: "0.0.0.0:9100" }, { envFile: "/etc/lamda/agent.env", cwd: CWD });
  assert.deepEqual(d.read, [
    "/srv/agent/state",
    "/etc/lamda/agent.env",
    "/srv/agent/keys/agent.json",
    "/etc/lamda/password",
    "/etc/lamda/agent.creds",
    "/run/user/1000/docker.sock",
    "/var/lib/docker",
  ]);
  assert.deepEqual(d.write, ["/srv/agent/state", "/run/user/1000/docker.sock"]);
  assert.deepEqual(d.net, [
    "unix:/run/user/1000/docker.sock",
    "localhost:80",
    "nats-1.example:4333",
    "nats-2.example:4222",
    "nats-ws.example:443",
    "rpc-a.example:443",
    "10.0.0.5:8545",
    "mine.mypinata.cloud:443",
    "gw.example:443",
    "127.0.0.1:8080",
    "127.0.0.1:5080",
    "0.0.0.0:9100",
  ]);
  assert.deepEqual(d.run, ["/usr/bin/nvidia-smi"]);
  assert.ok(d.flags.includes("--allow-run=/usr/bin/nvidia-smi"));
  assert.ok(d.flags.includes("--no-prompt"));
});

Deno.test("a tcp Docker host needs no socket paths, only its host:port", () => {
  const { config } = loadConfig({ env: { DOCKER_HOST: "tcp://docker.internal:2376" }, cwd: CWD });
  const d = permissionFlags(config, { envFile: ".env" });
  assert.ok(d.net.includes("docker.internal:2376"));
  assert.ok(!d.net.includes("localhost:80"));
  assert.ok(!d.read.some((p) => p.endsWith(".sock")));
  assert.ok(!d.read.includes("/var/lib/docker"), "a remote daemon's disk is not this host's");
  assert.deepEqual(d.write, ["/srv/agent/data"], "DATA_DIR comes resolved from the config");
});

Deno.test("the defaults come from the config schema, and an empty HTTP_ADDR needs no listen permission", () => {
  const { config } = loadConfig({ cwd: CWD });
  const d = permissionFlags(config, { envFile: ".env" });
  assert.deepEqual(d.read, ["/srv/agent/data", ".env", "/var/run/docker.sock", "/var/lib/docker"]);
  const moved = loadConfig({ env: { DOCKER_DATA_ROOT: "/srv/docker" }, cwd: CWD }).config;
  assert.equal(permissionFlags(moved, { envFile: ".env" }).read.at(-1), "/srv/docker", "DOCKER_DATA_ROOT moves it");
  assert.ok(d.net.includes("127.0.0.1:9464"), "HTTP_ADDR default");
  assert.ok(d.net.includes("127.0.0.1:4222"), "NATS default");
  assert.deepEqual(d.run, ["nvidia-smi"]);
  const off = loadConfig({ env: { HTTP_ADDR: "" }, cwd: CWD }).config;
  assert.equal(permissionFlags(off, { envFile: ".env" }).net.includes("127.0.0.1:9464"), false);
});

Deno.test("env flags list every schema variable and nothing else", () => {
  const d = permissionFlags(loadConfig({ cwd: CWD }).config, { envFile: ".env" });
  const names = varList().map(([, s]) => s.env);
  assert.ok(d.flags.includes(`--allow-env=${names.join(",")}`));
  assert.ok(d.flags.includes("--ignore-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE"));
});

Deno.test("host:port derivation defaults ports per scheme and rejects what is not a URL", () => {
  assert.equal(hostPort("https://a.example/path?q=1"), "a.example:443");
  assert.equal(hostPort("http://a.example"), "a.example:80");
  assert.equal(hostPort("nats://[::1]:4222"), "[::1]:4222");
  assert.throws(() => hostPort("not a url"), /not a URL/);
  assert.throws(() => hostPort("nats://x.example"), /no host or port/);
  assert.equal(listenAddr(":9464"), "0.0.0.0:9464");
  assert.equal(listenAddr("[::1]:9464"), "[::1]:9464");
  assert.throws(() => listenAddr("9464"), /HTTP_ADDR/);
});
