import assert from "node:assert/strict";
import { buildContainer, containerName, type JobContainerSpec } from "./container_spec.ts";
import { DEFAULT_JOB_LIMITS, type JobLimits } from "./limits.ts";
import { InvalidJobSpecError } from "./rules.ts";
import { classifyError } from "./outcome.ts";

const LIMITS: JobLimits = { ...DEFAULT_JOB_LIMITS, memoryBytes: 1024 ** 3, cpus: 2, runtime: undefined };
const SPEC: JobContainerSpec = {
  jobId: "job-1",
  attempt: 1,
  agentAddress: "0x00000000000000000000000000000000000000aA",
  image: "lamda/model:1",
  inputDir: "/var/lib/lamda/jobs/job-1/input",
  outputDir: "/var/lib/lamda/jobs/job-1/output",
};

Deno.test("create request carries the hardened HostConfig, labels and only the per-job mounts", () => {
  const { name, body, timeoutMs } = buildContainer(SPEC, LIMITS);
  assert.equal(name, containerName("job-1", 1));
  assert.equal(timeoutMs, LIMITS.defaultTimeoutMs);
  assert.equal(body.Image, "lamda/model:1");
  assert.equal(body.Cmd, undefined, "the image's own CMD runs");
  assert.deepEqual(body.Labels, {
    "lamda.agent": SPEC.agentAddress,
    "lamda.job_id": "job-1",
    "lamda.attempt": "1",
    "lamda.timeout_ms": String(LIMITS.defaultTimeoutMs),
  });
  const hc = body.HostConfig as Record<string, unknown>;
  assert.deepEqual(hc.Mounts, [
    { Type: "bind", Source: SPEC.inputDir, Target: "/input", ReadOnly: true },
    { Type: "bind", Source: SPEC.outputDir, Target: "/output", ReadOnly: false },
  ]);
  assert.deepEqual(hc.CapDrop, ["ALL"]);
  assert.deepEqual(hc.SecurityOpt, ["no-new-privileges"]);
  assert.equal(hc.Privileged, false);
  assert.equal(hc.ReadonlyRootfs, true);
  assert.deepEqual(hc.Tmpfs, { "/tmp": `rw,nosuid,nodev,size=${LIMITS.tmpfsSizeBytes},mode=1777` });
  assert.equal(hc.PidsLimit, LIMITS.pidsLimit);
  assert.equal(hc.Memory, LIMITS.memoryBytes);
  assert.equal(hc.MemorySwap, LIMITS.memoryBytes);
  assert.equal(hc.NanoCpus, 2e9);
  assert.equal(hc.ShmSize, LIMITS.shmSizeBytes);
  assert.equal(hc.NetworkMode, "none");
  assert.equal(hc.Binds, undefined);
  assert.equal(hc.DeviceRequests, undefined);
  assert.equal(hc.Runtime, undefined);
});

Deno.test("GPU job requests exactly its device ids, never a Count", () => {
  const gpus = ["GPU-aaaa", "MIG-bbbb"];
  const hc = buildContainer({ ...SPEC, gpuIds: gpus }, LIMITS).body.HostConfig as Record<string, unknown>;
  assert.deepEqual(hc.DeviceRequests, [{ Driver: "nvidia", DeviceIDs: gpus, Capabilities: [["gpu"]] }]);
  assert.throws(() => buildContainer({ ...SPEC, gpuIds: ["GPU-a,GPU-b"] }, LIMITS), InvalidJobSpecError);
});

Deno.test("a job's resource and time requests are capped by the operator's limits", () => {
  const small = buildContainer({ ...SPEC, resources: { memoryMb: 256, cpus: 0.5 }, timeoutSeconds: 30 }, LIMITS);
  const hcSmall = small.body.HostConfig as Record<string, number>;
  assert.equal(hcSmall.Memory, 256 * 1024 * 1024);
  assert.equal(hcSmall.MemorySwap, 256 * 1024 * 1024);
  assert.equal(hcSmall.NanoCpus, 0.5e9);
  assert.equal(small.timeoutMs, 30_000);
  const big = buildContainer({ ...SPEC, resources: { memoryMb: 1e6, cpus: 64 }, timeoutSeconds: 1e7 }, LIMITS);
  const hcBig = big.body.HostConfig as Record<string, number>;
  assert.equal(hcBig.Memory, LIMITS.memoryBytes);
  assert.equal(hcBig.NanoCpus, 2e9);
  assert.equal(big.timeoutMs, LIMITS.maxTimeoutMs);
});

Deno.test("operator options: bridge network, runtime, user; job command and env", () => {
  const { body } = buildContainer(
    { ...SPEC, command: ["python", "run.py"], env: { A: "1" }, outputPath: "/results/" },
    { ...LIMITS, network: "bridge", runtime: "runsc", user: "1000:1000" },
  );
  const hc = body.HostConfig as Record<string, unknown>;
  assert.equal(hc.NetworkMode, "bridge");
  assert.equal(hc.Runtime, "runsc");
  assert.equal(body.User, "1000:1000");
  assert.deepEqual(body.Cmd, ["python", "run.py"]);
  assert.deepEqual(body.Env, ["A=1"]);
  assert.equal((hc.Mounts as { Target: string }[])[1].Target, "/results");
});

Deno.test("container names are deterministic per job and attempt, and distinct where sanitizing folds ids", () => {
  assert.equal(containerName("a:b", 1), containerName("a:b", 1));
  assert.notEqual(containerName("a:b", 1), containerName("a:b", 2));
  assert.notEqual(containerName("a:b", 1), containerName("a_b", 1));
  assert.match(containerName("..x:y", 3), /^lamda-job-x_y-[0-9a-f]{8}-a3$/);
});

Deno.test("invalid specs are rejected before building", () => {
  assert.throws(() => buildContainer({ ...SPEC, attempt: 0 }, LIMITS), /attempt 0/);
  assert.throws(() => buildContainer({ ...SPEC, jobId: "a b" }, LIMITS), /job_id/);
  assert.throws(() => buildContainer({ ...SPEC, command: [] }, LIMITS), /command must be a non-empty array/);
  assert.throws(() => buildContainer({ ...SPEC, outputDir: "relative/out" }, LIMITS), /absolute host path/);
});

Deno.test("a relative host directory is the node's error (internal_error), never the job's (invalid_job)", () => {
  let thrown: unknown;
  try {
    buildContainer({ ...SPEC, inputDir: "data/jobs/j-a1/input" }, LIMITS);
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof Error, "relative input directory refused");
  assert.equal(classifyError(thrown).reason, "internal_error");
});

Deno.test("a network sandbox: the container joins the holder's namespace, only with the none network", () => {
  const holder = "a".repeat(64);
  const joined = buildContainer({ ...SPEC, networkContainer: holder }, LIMITS).body.HostConfig as Record<
    string,
    unknown
  >;
  assert.equal(joined.NetworkMode, `container:${holder}`);
  const bridge = buildContainer({ ...SPEC, networkContainer: holder }, { ...LIMITS, network: "bridge" })
    .body.HostConfig as Record<string, unknown>;
  assert.equal(bridge.NetworkMode, "bridge");
  assert.throws(() => buildContainer({ ...SPEC, networkContainer: "x;y" }, LIMITS), /network sandbox/);
});
