/** `doctor` against the local network, on this GPU-less machine: GPU failures with fixes, the rest passes. */
import assert from "node:assert/strict";
import { encryptKeystoreJson } from "ethers";
import { dockerMissing } from "../support/docker.ts";
import { GpuDockerd, gpuDockerdReady } from "../support/gpu_dockerd.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { NatsServer, natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());
const gpuDockerd = ready && await gpuDockerdReady();

interface Check {
  name: string;
  level: "pass" | "warn" | "fail";
  found: string;
  fix?: string;
}

interface DoctorRun {
  code: number;
  stdout: string;
  stderr: string;
  checks: Check[];
}

/** Runs `doctor --json` (plus `args`) as a child with exactly `env`. */
async function doctor(env: Record<string, string>, args: string[] = []): Promise<DoctorRun> {
  const inherit: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const v = Deno.env.get(k);
    if (v) inherit[k] = v;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "doctor", "--json", ...args],
    env: { ...inherit, ...env, NO_COLOR: "1" },
    clearEnv: true,
    // DATA_DIR exists and holds no .env: the run sees exactly `env`.
    cwd: env.DATA_DIR,
    stdin: "null",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  let checks: Check[];
  try {
    checks = JSON.parse(stdout).checks;
  } catch {
    throw new Error(`doctor printed no JSON report (exit ${out.code}):\n${stdout}\n${stderr}`);
  }
  return { code: out.code, stdout, stderr, checks };
}

function check(run: DoctorRun, name: string): Check {
  const found = run.checks.find((c) => c.name === name);
  assert.ok(found, `no ${name} check in ${JSON.stringify(run.checks.map((c) => c.name))}`);
  return found;
}

const GPU_CHECKS = ["nvidia_smi", "gpu_health", "nvidia_runtime"];

Deno.test({
  name: "doctor against the local network",
  ignore: !ready,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using net = await LocalNetwork.start();
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-doctor-" });
    const secrets = [net.agentKey, net.agentKey.slice(2), DEV_PINATA_JWT];
    const assertNoSecret = (run: DoctorRun) => {
      for (const s of secrets) {
        assert.ok(!run.stdout.includes(s) && !run.stderr.includes(s), "no secret in doctor's output");
      }
    };
    try {
      await t.step(
        "with GPU_REQUIRED=true the GPU checks fail with fixes (dockerd refuses GPU requests); the rest passes",
        async () => {
          const run = await doctor(net.agentEnv(dataDir, { GPU_REQUIRED: "true" }));
          assert.equal(run.code, 1, run.stdout);
          const smi = check(run, "nvidia_smi");
          assert.equal(smi.level, "fail");
          assert.match(smi.fix ?? "", /install the NVIDIA driver/);
          const runtime = check(run, "nvidia_runtime");
          assert.equal(runtime.level, "fail");
          assert.match(runtime.found, /^dockerd does not accept GPU device requests: could not select device driver/);
          assert.match(runtime.fix ?? "", /nvidia-container-toolkit/);
          assert.equal(check(run, "gpu_health").level, "fail");
          // How full this machine's disk is is not the test's to decide: the check reads it and names the watermarks.
          const disk = check(run, "docker_disk");
          assert.match(
            disk.found,
            /^Docker's data root \/\S+: [\d.]+% used, [\d.]+ \w+ free \(IMAGE_GC_HIGH_PERCENT 85, IMAGE_GC_LOW_PERCENT 80\)$/,
          );
          assert.notEqual(disk.level, "fail", disk.found);
          for (const c of run.checks.filter((c) => !GPU_CHECKS.includes(c.name) && c.name !== "docker_disk")) {
            assert.equal(c.level, "pass", `${c.name}: ${c.found} / ${c.fix}`);
          }
          for (const name of ["config", "data_dir", "docker", "nats", "chain", "clock", "pinata"]) check(run, name);
          assert.ok(run.checks.some((c) => c.name.startsWith("gateway ")), "a gateway check");
          assert.match(check(run, "chain").found, /chain 5611/);
          assert.match(check(run, "chain").found, /balance/);
          assertNoSecret(run);
        },
      );

      await t.step(
        "in CPU-only mode (GPU_REQUIRED=false) the GPU checks only warn, with the fix, and doctor exits 0",
        async () => {
          const run = await doctor(net.agentEnv(dataDir));
          assert.equal(run.code, 0, run.stdout);
          for (const name of GPU_CHECKS) {
            const c = check(run, name);
            assert.equal(c.level, "warn", `${name}: ${c.found}`);
            assert.ok(c.fix && c.fix.length > 10, `${name} carries a fix`);
          }
          assertNoSecret(run);
        },
      );

      await t.step({
        name: "on a dockerd with Docker's NVIDIA driver the nvidia_runtime row passes and names the mechanism",
        ignore: !gpuDockerd,
        async fn() {
          await using dockerd = await GpuDockerd.start();
          const run = await doctor(net.agentEnv(dataDir, { DOCKER_HOST: dockerd.host, GPU_REQUIRED: "false" }));
          const row = check(run, "nvidia_runtime");
          assert.equal(row.level, "pass", `${row.found} / ${row.fix}`);
          assert.equal(
            row.found,
            "dockerd accepts GPU device requests (built-in NVIDIA driver: nvidia-container-runtime-hook on dockerd's PATH)",
          );
          assert.equal(check(run, "docker").level, "pass");
        },
      });

      await t.step("an unreachable NATS_URL fails the nats check with a fix naming NATS_URL", async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = listener.addr.port;
        listener.close();
        const run = await doctor(net.agentEnv(dataDir, { NATS_URL: `nats://127.0.0.1:${port}` }));
        assert.equal(run.code, 1);
        const nats = check(run, "nats");
        assert.equal(nats.level, "fail");
        assert.match(nats.fix ?? "", /NATS_URL/);
        assert.equal(check(run, "chain").level, "pass", "the other checks still run");
        assertNoSecret(run);
      });

      await t.step("a NATS user without permission on the agent's subjects fails the nats check", async () => {
        const password = "doctor-nats-password-5b1e";
        await using restricted = await NatsServer.start({
          jetstream: false,
          config: `authorization { users = [{ user: "agent", password: "${password}", permissions: {
            publish: { deny: ["agent.status"] }, subscribe: { allow: ["_INBOX.>"] } } }] }`,
        });
        const run = await doctor(net.agentEnv(dataDir, {
          NATS_URL: restricted.url,
          NATS_USER: "agent",
          NATS_PASSWORD: password,
          JOB_INTAKE: "core",
        }));
        assert.equal(run.code, 1);
        const nats = check(run, "nats");
        assert.equal(nats.level, "fail", nats.found);
        assert.match(nats.found, /Permissions Violation for Publish to "agent\.status"/i);
        assert.match(nats.found, /Permissions Violation for Subscription to "jobs\.dispatch\./i);
        // The fix names this node's subjects (not `permissions`, which prints Deno permissions, not NATS ones).
        assert.match(nats.fix ?? "", /publish on agent\.status and agent\.heartbeat\.0x[0-9a-fA-F]{40}/);
        assert.match(nats.fix ?? "", new RegExp(`subscribe on jobs\\.dispatch\\.${net.agentAddress}`));
        assert.doesNotMatch(nats.fix ?? "", /lamda-node-agent permissions/);
        assert.ok(!run.stdout.includes(password) && !run.stderr.includes(password), "the password is never printed");

        const wrong = await doctor(net.agentEnv(dataDir, {
          NATS_URL: restricted.url,
          NATS_USER: "agent",
          NATS_PASSWORD: "not-the-password",
          JOB_INTAKE: "core",
        }));
        assert.equal(check(wrong, "nats").level, "fail");
        assert.match(check(wrong, "nats").fix ?? "", /NATS_PASSWORD/);
      });

      await t.step("a wrong CHAIN_ID fails the chain check with a fix naming CHAIN_ID", async () => {
        const run = await doctor(net.agentEnv(dataDir, { CHAIN_ID: "204" }));
        assert.equal(run.code, 1);
        const chain = check(run, "chain");
        assert.equal(chain.level, "fail");
        assert.match(chain.found, /5611/);
        assert.match(chain.fix ?? "", /CHAIN_ID/);
        assert.equal(check(run, "nats").level, "pass");
        assertNoSecret(run);
      });

      await t.step("a rejected PINATA_JWT fails the pinata check without printing the JWT", async () => {
        const badJwt = "eyJhbGciOiJIUzI1NiJ9.wrong-token-for-doctor.c2lnbmF0dXJl";
        const run = await doctor(net.agentEnv(dataDir, { PINATA_JWT: badJwt }));
        assert.equal(run.code, 1);
        const pinata = check(run, "pinata");
        assert.equal(pinata.level, "fail");
        assert.match(pinata.fix ?? "", /PINATA_JWT/);
        assert.ok(!run.stdout.includes(badJwt) && !run.stderr.includes(badJwt), "the JWT is never printed");
      });

      await t.step("--offline runs only local checks and opens no network connection", async () => {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        let connections = 0;
        const accepting = (async () => {
          for await (const conn of listener) {
            connections++;
            conn.close();
          }
        })();
        const trap = `127.0.0.1:${listener.addr.port}`;
        try {
          const run = await doctor(
            net.agentEnv(dataDir, {
              NATS_URL: `nats://${trap}`,
              OPBNB_RPC_URL: `http://${trap}`,
              PINATA_API_URL: `http://${trap}`,
              IPFS_GATEWAYS: `http://${trap}`,
            }),
            ["--offline"],
          );
          assert.equal(run.code, 0, run.stdout);
          assert.deepEqual(
            run.checks.map((c) => c.name),
            ["config", "data_dir", "nvidia_smi", "gpu_health", "docker", "docker_disk", "nvidia_runtime"],
          );
          assert.equal(check(run, "docker").level, "pass");
          assert.equal(connections, 0, "no connection to any configured endpoint");
          assertNoSecret(run);
        } finally {
          listener.close();
          await accepting.catch(() => {});
        }
      });

      await t.step("--offline on an unprovisioned host warns about the missing key and JWT", async () => {
        const env = net.agentEnv(dataDir);
        delete env.AGENT_PRIVATE_KEY;
        delete env.PINATA_JWT;
        const run = await doctor(env, ["--offline"]);
        assert.equal(run.code, 0, run.stdout);
        const config = check(run, "config");
        assert.equal(config.level, "warn");
        assert.match(config.found, /AGENT_PRIVATE_KEY/);
        const full = await doctor(env);
        assert.equal(full.code, 1, "without --offline a missing key fails");
        assert.equal(check(full, "config").level, "fail");
      });

      await t.step("a .env readable by others is a FAIL row with the chmod fix, and the report goes on", async () => {
        const dir = await Deno.makeTempDir({ prefix: "lamda-doctor-env-" });
        try {
          const path = `${dir}/agent.env`;
          await Deno.writeTextFile(path, `AGENT_PRIVATE_KEY=${net.agentKey}\n`);
          await Deno.chmod(path, 0o644);
          const env = net.agentEnv(dataDir);
          delete env.AGENT_PRIVATE_KEY;
          const run = await doctor(env, ["--offline", "--env-file", path]);
          assert.equal(run.code, 1, run.stdout + run.stderr);
          const row = check(run, "env_file");
          assert.equal(row.level, "fail");
          assert.match(row.found, new RegExp(`^${path} holds AGENT_PRIVATE_KEY and is readable by group/others`));
          assert.equal(row.fix, `chmod 600 ${path}`);
          assert.equal(check(run, "config").level, "pass", "the key in the .env was loaded");
          assert.equal(check(run, "docker").level, "pass", "the other checks still run");
          assertNoSecret(run);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });

      await t.step("a wrong keystore password fails the config row with a fix about the password file", async () => {
        const dir = await Deno.makeTempDir({ prefix: "lamda-doctor-keystore-" });
        try {
          const keystore = `${dir}/keystore.json`;
          const passwordFile = `${dir}/password`;
          const json = await encryptKeystoreJson(
            { address: net.agentAddress, privateKey: net.agentKey },
            "doctor-right-password",
            { scrypt: { N: 1 << 10 } },
          );
          await Deno.writeTextFile(keystore, json, { mode: 0o600 });
          await Deno.writeTextFile(passwordFile, "doctor-wrong-password\n", { mode: 0o600 });
          const env = net.agentEnv(dataDir, { AGENT_KEYSTORE: keystore, AGENT_KEYSTORE_PASSWORD_FILE: passwordFile });
          delete env.AGENT_PRIVATE_KEY;
          const run = await doctor(env, ["--offline"]);
          assert.equal(run.code, 1, run.stdout);
          const config = check(run, "config");
          assert.equal(config.level, "fail");
          assert.match(config.found, /wrong password/);
          assert.match(config.fix ?? "", /AGENT_KEYSTORE_PASSWORD_FILE/);
          assert.doesNotMatch(config.fix ?? "", /PINATA_JWT/, "not the fix of a missing variable");
          assert.equal(check(run, "docker").level, "pass");
          for (const text of [run.stdout, run.stderr]) assert.ok(!text.includes("doctor-wrong-password"));
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
