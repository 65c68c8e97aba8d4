import assert from "node:assert/strict";
import { ConfigError, DEPLOYED_REPUTATION_ADDRESS, loadConfig, parseEnvFile, requireVars, varList } from "./mod.ts";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("every variable with a default parses its own default", () => {
  const { config, sources } = loadConfig({});
  for (const [key, spec] of varList()) {
    if (spec.default === undefined) assert.equal(config[key], undefined, `${spec.env} has no default`);
    else {
      assert.notEqual(config[key], undefined, `${spec.env} default parses`);
      assert.equal(sources[key].kind, "default");
    }
  }
});

Deno.test("the seed variables keep their names and defaults", () => {
  const { config } = loadConfig({});
  assert.equal(config.dockerHost, "unix:///var/run/docker.sock");
  assert.equal(config.reputationContract, DEPLOYED_REPUTATION_ADDRESS);
  assert.equal(config.logLevel, "info");
  assert.equal(config.heartbeatInterval, 60_000);
  assert.deepEqual(config.natsServers, ["nats://127.0.0.1:4222"]);
  assert.equal(config.privateKey, undefined);
  assert.equal(config.pinataJwt, undefined);
});

Deno.test("every example value in the schema is itself valid", () => {
  for (const [, spec] of varList()) {
    if (spec.example.includes("<") || spec.example.includes("…")) continue; // placeholders for secrets
    const parsed = spec.schema.safeParse(spec.example);
    assert.ok(
      parsed.success,
      `${spec.env} example ${spec.example} must parse: ${JSON.stringify(parsed.error?.issues)}`,
    );
  }
});

Deno.test("each bad value gets its own message naming the variable and a good example", () => {
  const cases: [string, string, RegExp][] = [
    ["LOG_LEVEL", "verbose", /LOG_LEVEL: "verbose" must be one of debug, info, warn, error .*LOG_LEVEL=debug/],
    ["LOG_FORMAT", "xml", /LOG_FORMAT: "xml" must be one of json, pretty/],
    ["HEARTBEAT_INTERVAL", "30", /HEARTBEAT_INTERVAL: "30" is not a duration .*HEARTBEAT_INTERVAL=30s/],
    ["HEARTBEAT_INTERVAL", "1s", /HEARTBEAT_INTERVAL: "1s" must be at least 5s /],
    ["HEARTBEAT_INTERVAL", "10m", /HEARTBEAT_INTERVAL: "10m" must be at most 4m /],
    ["SHUTDOWN_TIMEOUT", "2h", /SHUTDOWN_TIMEOUT: "2h" must be at most 1h /],
    ["NVIDIA_SMI_TIMEOUT", "50ms", /NVIDIA_SMI_TIMEOUT: "50ms" must be at least 100ms /],
    ["JOB_SHM_SIZE", "64k", /JOB_SHM_SIZE: "64k" must be at least 1 MiB /],
    ["JOB_MEMORY_LIMIT", "1MiB", /JOB_MEMORY_LIMIT: "1MiB" must be at least 6 MiB /],
    ["JOB_MAX_MESSAGE_SIZE", "100", /JOB_MAX_MESSAGE_SIZE: "100" must be at least 256 B /],
    ["DOCKER_HOST", "/var/run/docker.sock", /DOCKER_HOST: .* is not a Docker host/],
    ["NATS_URL", "http://x:4222", /NATS_URL: .* is not a nats\/tls\/ws\/wss URL/],
    ["OPBNB_RPC_URL", "not a url", /OPBNB_RPC_URL: "not a url" is not a http\/https.* URL/],
    ["REPUTATION_CONTRACT_ADDRESS", "0x1234", /REPUTATION_CONTRACT_ADDRESS: "0x1234" is not an address/],
    ["HTTP_ADDR", "9464", /HTTP_ADDR: "9464" is not host:port \(or empty to disable the endpoint\)/],
    ["JOB_NETWORK_SANDBOX_IMAGE", "Pause:Bad Tag", /JOB_NETWORK_SANDBOX_IMAGE: .* is not an image reference/],
  ];
  for (const [name, value, want] of cases) {
    const err = configError(() => loadConfig({ env: { [name]: value } }));
    assert.equal(err.issues.length, 1, `${name}=${value} gives one issue`);
    assert.equal(err.issues[0].variable, name);
    assert.match(err.message, want);
  }
});

Deno.test("empty turns the operator endpoint and the network sandboxes off", () => {
  const { config } = loadConfig({ env: { HTTP_ADDR: "", JOB_NETWORK_SANDBOX_IMAGE: "" } });
  assert.equal(config.httpAddr, "");
  assert.equal(config.jobNetworkSandboxImage, "");
  assert.equal(loadConfig({}).config.jobNetworkSandboxImage, "registry.k8s.io/pause:3.10");
});

Deno.test("all errors are reported at once", () => {
  const err = configError(() =>
    loadConfig({ env: { LOG_LEVEL: "x", HEARTBEAT_INTERVAL: "y", DOCKER_HOST: "z", AGENT_PRIVATE_KEY: "nothex" } })
  );
  assert.deepEqual(err.issues.map((i) => i.variable).sort(), [
    "AGENT_PRIVATE_KEY",
    "DOCKER_HOST",
    "HEARTBEAT_INTERVAL",
    "LOG_LEVEL",
  ]);
  assert.match(err.message, /4 problems/);
});

Deno.test("a bad secret value is redacted in the error", () => {
  const almostKey = KEY.slice(0, -1) + "z";
  const err = configError(() => loadConfig({ env: { AGENT_PRIVATE_KEY: almostKey } }));
  assert.ok(!err.message.includes(almostKey.slice(2, 20)), "private key material must not appear in the error");
  assert.match(err.message, /AGENT_PRIVATE_KEY: "\[REDACTED\]" is not a private key/);
});

Deno.test("precedence: flag > environment > .env > default, with sources", () => {
  const envFile = parseEnvFile("/srv/.env", "LOG_LEVEL=warn\nDATA_DIR=/srv/data\nLOG_FORMAT=pretty\n");
  const { config, sources } = loadConfig({
    envFile,
    env: { LOG_LEVEL: "error", LOG_FORMAT: "json" },
    flags: { LOG_LEVEL: "debug" },
  });
  assert.equal(config.logLevel, "debug");
  assert.deepEqual(sources.logLevel, { kind: "flag", flag: "LOG_LEVEL" });
  assert.equal(config.logFormat, "json");
  assert.deepEqual(sources.logFormat, { kind: "environment" });
  assert.equal(config.dataDir, "/srv/data");
  assert.deepEqual(sources.dataDir, { kind: "env-file", path: "/srv/.env", line: 2 });
  assert.deepEqual(sources.dockerHost, { kind: "default" });
});

Deno.test("an empty value counts as unset and falls back to the default", () => {
  const { config } = loadConfig({ envFile: parseEnvFile(".env", "LOG_LEVEL=\n"), env: { DATA_DIR: "" }, cwd: "/w" });
  assert.equal(config.logLevel, "info");
  assert.equal(config.dataDir, "/w/data");
});

Deno.test("a malformed .env line becomes a config error with its line number", () => {
  const err = configError(() => loadConfig({ envFile: parseEnvFile("/srv/.env", "A=1\nthis is wrong\n") }));
  assert.equal(err.issues[0].variable, "/srv/.env:2");
  assert.match(err.message, /\/srv\/.env:2: malformed line/);
});

Deno.test("a private key is accepted with or without 0x and normalized", () => {
  assert.equal(loadConfig({ env: { AGENT_PRIVATE_KEY: KEY.slice(2) } }).config.privateKey, KEY);
  assert.equal(loadConfig({ env: { AGENT_PRIVATE_KEY: KEY } }).config.privateKey, KEY);
});

Deno.test("several RPC and NATS URLs are accepted as lists", () => {
  const { config } = loadConfig({
    env: { OPBNB_RPC_URL: "http://a:8545, http://b:8545", NATS_URL: "nats://n1:4222,nats://n2:4222" },
  });
  assert.deepEqual(config.rpcUrls, ["http://a:8545", "http://b:8545"]);
  assert.deepEqual(config.natsServers, ["nats://n1:4222", "nats://n2:4222"]);
});

Deno.test("requireVars names every missing variable and why", () => {
  const { config } = loadConfig({});
  const err = configError(() => requireVars(config, { privateKey: "to sign transactions", pinataJwt: "to upload" }));
  assert.deepEqual(err.issues.map((i) => i.variable), ["AGENT_PRIVATE_KEY", "PINATA_JWT"]);
  assert.match(err.message, /AGENT_PRIVATE_KEY: is required to sign transactions/);
});

Deno.test("a relative DATA_DIR (the documented default included) is resolved against the working directory", () => {
  assert.equal(loadConfig({ cwd: "/var/lib/lamda-node-agent" }).config.dataDir, "/var/lib/lamda-node-agent/data");
  const rel = loadConfig({ cwd: "/srv/node", env: { DATA_DIR: "state/../jobs-data" } });
  assert.equal(rel.config.dataDir, "/srv/node/jobs-data");
  assert.equal(rel.raw.dataDir, "state/../jobs-data", "the raw value (shown by `config`) stays as written");
  assert.equal(loadConfig({ cwd: "/srv/node", env: { DATA_DIR: "/data/lamda" } }).config.dataDir, "/data/lamda");
});

Deno.test("no bound of any variable is stated in raw milliseconds or bytes", () => {
  // Ask each variable for a value far below and far above any bound; a bound message must be in people's units.
  for (const [, spec] of varList()) {
    for (const value of ["0", "0s", "0ms", "1ms", "9999h", "1", "1b", "1TiB"]) {
      const parsed = spec.schema.safeParse(value);
      for (const issue of parsed.error?.issues ?? []) {
        assert.doesNotMatch(
          issue.message,
          /\d+ ms\b|\d+ bytes\b/,
          `${spec.env}=${value}: ${issue.message}`,
        );
      }
    }
  }
});

Deno.test("several problems are listed in .env line order, then the environment's in schema order", () => {
  const envFile = parseEnvFile(
    "/srv/.env",
    [
      "LOG_LEVEL=loud", // 1: invalid value
      "this line is wrong", // 2: malformed
      "DOCKER_HOST=ftp://x", // 3: invalid value
      "HEARTBEAT_INTERVAL=1s", // 4: overridden by the environment below, so reported with it
      "no equals", // 5: malformed
      "LOG_FORMAT=xml", // 6: invalid value
    ].join("\n") + "\n",
  );
  const err = configError(() =>
    loadConfig({ envFile, env: { HEARTBEAT_INTERVAL: "soon", NATS_URL: "http://x" }, flags: { JOB_NETWORK: "host" } })
  );
  assert.deepEqual(err.issues.map((i) => i.variable), [
    "LOG_LEVEL",
    "/srv/.env:2",
    "DOCKER_HOST",
    "/srv/.env:5",
    "LOG_FORMAT",
    ...varList().map(([, s]) => s.env).filter((v) => ["HEARTBEAT_INTERVAL", "NATS_URL", "JOB_NETWORK"].includes(v)),
  ]);
  const lines = err.message.split("\n").slice(1);
  assert.match(lines[0], /LOG_LEVEL: "loud" .*\(from \/srv\/\.env:1\)/);
  assert.match(lines[1], /\/srv\/\.env:2: malformed line/);
});

Deno.test("image watermarks: the low one must be below the high one, named with a fix; defaults 85/80", () => {
  const ok = loadConfig({ env: {} }).config;
  assert.equal(ok.imageGcHighPercent, 85);
  assert.equal(ok.imageGcLowPercent, 80);
  assert.equal(ok.imageGcMinAge, 120_000);
  assert.equal(ok.imageCacheMaxBytes, undefined);
  const error = (() => {
    try {
      loadConfig({ env: { IMAGE_GC_LOW_PERCENT: "90" } });
    } catch (e) {
      return e as ConfigError;
    }
  })();
  assert.ok(error instanceof ConfigError);
  assert.match(
    error.message,
    /IMAGE_GC_LOW_PERCENT: "90" must be below IMAGE_GC_HIGH_PERCENT \(85\) — e\.g\. IMAGE_GC_LOW_PERCENT=80/,
  );
  const both = loadConfig({
    env: { IMAGE_GC_HIGH_PERCENT: "95", IMAGE_GC_LOW_PERCENT: "90", IMAGE_KEEP: "busybox, ghcr.io/x/*" },
  });
  assert.deepEqual([both.config.imageGcHighPercent, both.config.imageGcLowPercent], [95, 90]);
  assert.deepEqual(both.config.imageKeep, ["busybox", "ghcr.io/x/*"]);
});
