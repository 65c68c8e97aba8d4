import assert from "node:assert/strict";
import { encryptKeystoreJson, Wallet } from "ethers";
import { chainSettings, loadWallet } from "../chain/mod.ts";
import { loadConfig, parseEnvFile } from "../config/mod.ts";
import { type DockerEngine, type GpuSupport, gpuSupport, NVIDIA_FIX } from "../docker/mod.ts";
import { diskVerdict, type LocalCheckOptions, localChecks, type LocalProbes } from "./doctor_local.ts";
import { type CheckResult, runChecks } from "./doctor_report.ts";

// A well-known public development key (anvil account #2): not a secret.
const KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "doctor_local_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the named local checks of `env`'s config, with the node key loaded as doctor loads it. */
async function run(
  env: Record<string, string>,
  names: string[],
  options: LocalCheckOptions = {},
): Promise<Map<string, CheckResult>> {
  const { config } = loadConfig({ env: { PINATA_JWT: "eyJhbGciOiJIUzI1NiJ9.doctor.c2ln", ...env } });
  const probes: LocalProbes = {
    address: () =>
      config.privateKey || config.keystore
        ? loadWallet(chainSettings(config).key).then((w) => w.address)
        : Promise.resolve(undefined),
    docker: () => Promise.reject(new Error("no Docker in this test")) as Promise<DockerEngine>,
  };
  const checks = localChecks(config, probes, options).filter((c) => names.includes(c.name));
  assert.deepEqual(checks.map((c) => c.name).sort(), [...names].sort(), "every asked-for check exists");
  const results = await runChecks(checks, { timeoutMs: 10_000 });
  return new Map(results.map((r) => [r.name, r]));
}

Deno.test("a wrong keystore password fails the config row with the password-file fix, not the generic one", async () => {
  await withDir(async (dir) => {
    const keystore = `${dir}/keystore.json`;
    const passwordFile = `${dir}/password`;
    const json = await encryptKeystoreJson({ address: new Wallet(KEY).address, privateKey: KEY }, "right horse", {
      scrypt: { N: 1 << 10 },
    });
    await Deno.writeTextFile(keystore, json, { mode: 0o600 });
    await Deno.writeTextFile(passwordFile, "wrong battery\n", { mode: 0o600 });
    const env = { AGENT_KEYSTORE: keystore, AGENT_KEYSTORE_PASSWORD_FILE: passwordFile };
    const config = (await run(env, ["config"])).get("config")!;
    assert.equal(config.level, "fail");
    assert.equal(config.found, `Cannot decrypt the keystore ${keystore}: wrong password`);
    assert.match(config.fix ?? "", new RegExp(`AGENT_KEYSTORE_PASSWORD_FILE \\(${passwordFile}\\)`));
    assert.doesNotMatch(config.fix ?? "", /PINATA_JWT/, "the generic set-the-variables fix is not this failure's");
    assert.ok(!JSON.stringify(config).includes("battery") && !JSON.stringify(config).includes("horse"));

    await Deno.chmod(keystore, 0o644);
    const open = (await run(env, ["config"])).get("config")!;
    assert.equal(open.level, "fail");
    assert.match(open.found, /readable by group\/others \(mode 0644\)/);
    assert.match(open.fix ?? "", new RegExp(`^chmod 600 ${keystore}`));
  });
});

Deno.test("a .env holding the key and readable by others is an env_file FAIL row with the chmod fix", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/agent.env`;
    const text = `AGENT_PRIVATE_KEY=${KEY}\n`;
    await Deno.writeTextFile(path, text);
    await Deno.chmod(path, 0o644);
    const envFile = parseEnvFile(path, text);
    const results = await run({ AGENT_PRIVATE_KEY: KEY }, ["config", "env_file"], { envFile });
    const row = results.get("env_file")!;
    assert.equal(row.level, "fail");
    assert.equal(
      row.found,
      `${path} holds AGENT_PRIVATE_KEY and is readable by group/others (mode 0644): \`run\` refuses to start`,
    );
    assert.equal(row.fix, `chmod 600 ${path}`);
    assert.equal(results.get("config")!.level, "pass", "the other checks go on");
    assert.ok(!JSON.stringify([...results.values()]).includes(KEY.slice(2)), "the key is never shown");

    const allowed = await run({ AGENT_PRIVATE_KEY: KEY, ALLOW_INSECURE_KEY_FILE_MODE: "true" }, ["env_file"], {
      envFile,
    });
    assert.equal(allowed.get("env_file")!.level, "warn");
    assert.match(allowed.get("env_file")!.found, /accepted because ALLOW_INSECURE_KEY_FILE_MODE=true/);

    await Deno.chmod(path, 0o600);
    assert.equal((await run({}, ["env_file"], { envFile })).get("env_file")!.level, "pass");
    const keyless = parseEnvFile(path, "LOG_LEVEL=debug\n");
    await Deno.chmod(path, 0o644);
    const none = (await run({}, ["env_file"], { envFile: keyless })).get("env_file")!;
    assert.equal(none.level, "pass");
    assert.match(none.found, /holds no private key/);
  });
});

Deno.test("without a .env there is no env_file row", () => {
  const { config } = loadConfig({});
  const probes: LocalProbes = {
    address: () => Promise.resolve(undefined),
    docker: () => Promise.reject(new Error("unused")),
  };
  assert.ok(!localChecks(config, probes).some((c) => c.name === "env_file"));
});

Deno.test("docker_disk: pass below the low watermark, warn between and above, fail when full, warn when unreadable", async () => {
  const config = { imageGcHighPercent: 85, imageGcLowPercent: 80, imageCacheMaxBytes: undefined };
  const at = (usedPercent: number, freeBytes = 10 * 1024 ** 3) => () =>
    Promise.resolve({ path: "/var/lib/docker", usedBytes: 1, freeBytes, usedPercent });
  const low = await diskVerdict("/var/lib/docker", config, at(42.04));
  assert.equal(low.level, "pass");
  assert.equal(
    low.found,
    "Docker's data root /var/lib/docker: 42% used, 10.0 GiB free (IMAGE_GC_HIGH_PERCENT 85, IMAGE_GC_LOW_PERCENT 80)",
  );
  assert.equal((await diskVerdict("/var/lib/docker", config, at(82))).level, "warn");
  const high = await diskVerdict("/var/lib/docker", { ...config, imageCacheMaxBytes: 200 * 1024 ** 3 }, at(90.27));
  assert.equal(high.level, "warn");
  assert.match(high.found, /90\.3% used.*IMAGE_CACHE_MAX_BYTES 200\.0 GiB\)$/);
  assert.match(high.fix ?? "", /removes unused images it pulled/);
  assert.equal((await diskVerdict("/var/lib/docker", config, at(100, 0))).level, "fail");
  const denied = await diskVerdict("/var/lib/docker", config, () => Promise.reject(new Error("Requires read access")));
  assert.equal(denied.level, "warn");
  assert.match(denied.found, /cannot read the filesystem usage.*Requires read access; image watermarks are off/);
  assert.match(denied.fix ?? "", /DOCKER_DATA_ROOT/);
});

Deno.test("nvidia_runtime reports what the engine's GPU probe proved: the mechanism, or dockerd's refusal and the fix", async () => {
  const evidence = { runtimes: ["runc"], jobRuntime: "runc", cdiSpecDirs: [], serverVersion: "20.10.24" };
  const refused = 'could not select device driver "nvidia" with capabilities: [[gpu]]';
  const row = async (env: Record<string, string>, support: Omit<GpuSupport, "probeMs">) => {
    const gpu: GpuSupport = { ...support, probeMs: 5 };
    const { config } = loadConfig({ env });
    const probes: LocalProbes = {
      address: () => Promise.resolve(undefined),
      docker: () => Promise.resolve({ capabilities: { gpu } } as DockerEngine),
    };
    const checks = localChecks(config, probes).filter((c) => c.name === "nvidia_runtime");
    return (await runChecks(checks, { timeoutMs: 10_000 }))[0];
  };
  const hook = await row({}, gpuSupport({ kind: "accepted" }, evidence));
  assert.equal(hook.level, "pass");
  assert.equal(
    hook.found,
    "dockerd accepts GPU device requests (built-in NVIDIA driver: nvidia-container-runtime-hook on dockerd's PATH)",
  );
  const none = gpuSupport({ kind: "refused", detail: refused }, evidence);
  const required = await row({}, none);
  assert.equal(required.level, "fail");
  assert.equal(required.found, `dockerd does not accept GPU device requests: ${refused} (runtimes: runc)`);
  assert.equal(required.fix, NVIDIA_FIX);
  const cpuOnly = await row({ GPU_REQUIRED: "false" }, none);
  assert.equal(cpuOnly.level, "warn");
  assert.match(cpuOnly.found, /\(GPU_REQUIRED=false: only CPU jobs can run\)$/);
});
