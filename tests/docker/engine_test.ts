/** Start-up against the daemon: version negotiation, unreachable Docker, runtime check, duplicate creates. */
import assert from "node:assert/strict";
import { ContainerExistsError, DockerEngine, DockerSetupError, DockerUnreachableError } from "../../src/docker/mod.ts";
import { Logger } from "../../src/log/mod.ts";
import { freePort } from "../support/ports.ts";
import { CaptureWriter, DOCKER_HOST, dockerReady, randomAddress, TEST_LIMITS, testEngine } from "./support/harness.ts";

const ready = await dockerReady();
const quiet = () => new Logger({ writer: new CaptureWriter() });

Deno.test("unreachable Docker socket gives one clear start-up error", async () => {
  const host = "unix:///tmp/lamda-no-such-dir/docker.sock";
  try {
    await DockerEngine.connect({ host, agentAddress: randomAddress(), logger: quiet() });
    assert.fail("connect should fail");
  } catch (e) {
    assert.ok(e instanceof DockerUnreachableError);
    assert.equal(e.message, `no Docker daemon at ${host}: is dockerd running? set DOCKER_HOST if it listens elsewhere`);
  }
});

Deno.test("unreachable Docker over tcp gives the same clear error", async () => {
  const host = `tcp://127.0.0.1:${await freePort()}`;
  await assert.rejects(
    DockerEngine.connect({ host, agentAddress: randomAddress(), logger: quiet() }),
    (e: Error) => e instanceof DockerUnreachableError && e.message.startsWith(`nothing listens at ${host}: `),
  );
});

Deno.test({
  name: "start-up negotiates the API version and reads the daemon's runtimes",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    assert.match(t.engine.capabilities.apiVersion, /^1\.\d+$/);
    assert.ok(t.engine.capabilities.runtimes.includes("runc"));
    assert.ok(t.engine.limits.cpus <= t.engine.capabilities.cpus);
    const rec = t.logs.records.find((r) => r.msg === "connected to Docker");
    assert.equal(rec?.fields.api_version, t.engine.capabilities.apiVersion);
    // The GPU probe's verdict and its cost are in the same line (this daemon has no GPU driver).
    assert.equal(rec?.fields.gpu_available, false);
    assert.equal(rec?.fields.gpu_mechanism, "none");
    assert.equal(typeof rec?.fields.gpu_probe_ms, "number");
  },
});

Deno.test({
  name: "a configured runtime the daemon lacks fails start-up with the fix",
  ignore: !ready,
  async fn() {
    await assert.rejects(
      DockerEngine.connect({
        host: DOCKER_HOST,
        agentAddress: randomAddress(),
        logger: quiet(),
        limits: { ...TEST_LIMITS, runtime: "runsc" },
      }),
      (e: Error) => e instanceof DockerSetupError && /DOCKER_RUNTIME=runsc is not a runtime/.test(e.message),
    );
  },
});

Deno.test({
  name: "a duplicate create of the same job attempt fails as ContainerExistsError and leaves the first alone",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    const ctl = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((r) => started = r);
    const spec = {
      jobId: "dup:1",
      attempt: 1,
      image: t.image,
      outputDir: t.outputDir,
      command: ["sh", "-c", "echo started; exec busybox sleep 60"],
    };
    const first = t.engine.run(spec, { signal: ctl.signal, onLine: (_s, l) => l === "started" && started() });
    await running;
    await assert.rejects(t.engine.run(spec), ContainerExistsError);
    const mine = await t.engine.listJobContainers();
    assert.deepEqual(mine.map((c) => [c.jobId, c.attempt, c.state]), [["dup:1", 1, "running"]]);
    ctl.abort();
    const outcome = await first;
    assert.ok(!outcome.ok && outcome.reason === "cancelled");
    // A new attempt gets a new name and runs.
    const second = await t.engine.run({ ...spec, attempt: 2, command: ["sh", "-c", "exit 0"] });
    assert.ok(second.ok);
  },
});
