import assert from "node:assert/strict";
import {
  checkCudaRequirement,
  compareDottedVersions,
  containerEnv,
  type CudaCheck,
  cudaRequirements,
  type DriverFacts,
  evaluateRequirement,
} from "./cuda_requirement.ts";
import {
  CUDA_11_8_0,
  CUDA_11_8_0_ARM64,
  CUDA_12_4_1,
  CUDA_12_8_1,
  LEGACY_CUDA_8_0_ENV,
} from "./testdata/nvidia_require_cuda.ts";

/**
 * Drivers as nvidia-smi reports them: the driver each CUDA toolkit release ships with (NVIDIA's CUDA release notes,
 * toolkit/driver table), and 565.57.01 / 590.48.01 from the recorded outputs in testdata/nvidia-smi/.
 */
const driver = (driverVersion: string, cudaVersion: string): DriverFacts => ({ driverVersion, cudaVersion });
const R470 = driver("470.82.01", "11.4");
const R520 = driver("520.61.05", "11.8");
const R535 = driver("535.54.03", "12.2");
const R545 = driver("545.23.08", "12.3");
const R550 = driver("550.54.15", "12.4");
const R555 = driver("555.42.02", "12.5");
const R560 = driver("560.28.03", "12.6");
const R565 = driver("565.57.01", "12.7");
const R590 = driver("590.48.01", "13.1");

const check = (env: string[], facts: DriverFacts | undefined, image = "nvidia/cuda:12.4.1-base-ubuntu22.04") =>
  checkCudaRequirement(image, containerEnv(env), facts);
const kind = (c: CudaCheck) => c.kind;

Deno.test("versions compare numerically by component: 12.10 > 12.4, 12 = 12.0, 535.183.01 > 535", () => {
  assert.equal(compareDottedVersions("12.10", "12.4"), 1);
  assert.equal(compareDottedVersions("12.4", "12.10"), -1);
  assert.equal(compareDottedVersions("12", "12.0"), 0);
  assert.equal(compareDottedVersions("12.0.0", "12"), 0);
  assert.equal(compareDottedVersions("535.183.01", "535"), 1);
  assert.equal(compareDottedVersions("535.183.01", "536"), -1);
  assert.equal(compareDottedVersions("12.05", "12.5"), 0);
  assert.equal(compareDottedVersions("12.4-rc1", "12.4"), undefined);
  assert.equal(compareDottedVersions("", "1"), undefined);
});

Deno.test("the 12.4.1 base image runs on a driver supporting CUDA 12.4, or on a 470/525/535 driver (forward compatibility)", () => {
  const env = [`NVIDIA_REQUIRE_CUDA=${CUDA_12_4_1}`];
  assert.equal(kind(check(env, R550)), "satisfied", "CUDA 12.4 meets cuda>=12.4");
  assert.equal(kind(check(env, R565)), "satisfied", "CUDA 12.7 meets cuda>=12.4");
  assert.equal(kind(check(env, R590)), "satisfied", "CUDA 13.1 meets cuda>=12.4");
  // The cuda>= term is one alternative: a 535 or 470 driver (CUDA 12.2 / 11.4) is accepted by its own term.
  assert.equal(kind(check(env, R535)), "satisfied");
  assert.equal(kind(check(env, R470)), "satisfied");
  // 545 and 520 are neither new enough nor a listed branch: the toolkit refuses them, and so does the agent.
  assert.equal(kind(check(env, R545)), "unsupported");
  assert.equal(kind(check(env, R520)), "unsupported");
});

Deno.test("a cuda_unsupported message names the image's CUDA, the branches it also accepts, the driver and the fix", () => {
  const c = check([`NVIDIA_REQUIRE_CUDA=${CUDA_12_4_1}`], R545);
  assert.ok(c.kind === "unsupported");
  assert.equal(c.requirement.source, "NVIDIA_REQUIRE_CUDA");
  assert.equal(
    c.message,
    "image nvidia/cuda:12.4.1-base-ubuntu22.04 requires CUDA >= 12.4 (NVIDIA_REQUIRE_CUDA) or a driver of branch " +
      "470, 525 or 535; this node's driver supports CUDA 12.3 (driver 545.23.08): use an image built for CUDA <= 12.3 " +
      "or update the NVIDIA driver",
  );
  const arm = check([`NVIDIA_REQUIRE_CUDA=${CUDA_11_8_0_ARM64}`], R470, "nvidia/cuda:11.8.0-base-ubuntu22.04");
  assert.ok(arm.kind === "unsupported");
  assert.equal(
    arm.message,
    "image nvidia/cuda:11.8.0-base-ubuntu22.04 requires CUDA >= 11.8 (NVIDIA_REQUIRE_CUDA); this node's driver " +
      "supports CUDA 11.4 (driver 470.82.01): use an image built for CUDA <= 11.4 or update the NVIDIA driver",
  );
});

Deno.test("the 12.8.1 and 11.8.0 images: their own driver branches, nothing else below their CUDA version", () => {
  const env128 = [`NVIDIA_REQUIRE_CUDA=${CUDA_12_8_1}`];
  assert.equal(kind(check(env128, R560)), "satisfied", "560 is a listed branch");
  assert.equal(kind(check(env128, R565)), "satisfied", "565 is a listed branch");
  assert.equal(kind(check(env128, R590)), "satisfied", "CUDA 13.1");
  assert.equal(kind(check(env128, R555)), "unsupported", "555 (CUDA 12.5) is not listed");
  assert.equal(kind(check(env128, R545)), "unsupported");
  const m = check(env128, R555, "nvidia/cuda:12.8.1-base-ubuntu24.04");
  assert.ok(m.kind === "unsupported");
  assert.match(
    m.message,
    /requires CUDA >= 12\.8 \(NVIDIA_REQUIRE_CUDA\) or a driver of branch 470, 535, 550, 560 or 565;/,
  );

  const env118 = [`NVIDIA_REQUIRE_CUDA=${CUDA_11_8_0}`];
  assert.equal(kind(check(env118, R520)), "satisfied");
  assert.equal(kind(check(env118, driver("450.80.02", "11.0"))), "satisfied", "the Tesla-only 450 branch");
  assert.equal(kind(check(env118, driver("460.32.03", "11.2"))), "unsupported");
});

Deno.test("space separates alternatives and comma joins conditions; evaluation stops at the first alternative that holds", () => {
  const f = driver("535.54.03", "12.2");
  assert.deepEqual(evaluateRequirement("cuda>=99.0 driver>=535", f), { ok: true });
  assert.deepEqual(evaluateRequirement("cuda>=11.0,driver>=999", f), { ok: false });
  assert.deepEqual(evaluateRequirement("cuda>=99.0 cuda>=11.0,driver<536", f), { ok: true });
  // An unreadable condition after the alternative that holds is never reached (libnvidia-container does the same).
  assert.deepEqual(evaluateRequirement("cuda>=11.0 foo=bar", f), { ok: true });
  assert.deepEqual(evaluateRequirement("CUDA>=12.0", f), { ok: true }, "property names are case-insensitive");
  assert.deepEqual(evaluateRequirement("cuda=12.2.0", f), { ok: true });
  assert.deepEqual(evaluateRequirement("cuda!=12.2", f), { ok: false });
  assert.deepEqual(evaluateRequirement("cuda<13", f), { ok: true });
  assert.deepEqual(evaluateRequirement("cuda>12.2", f), { ok: false });
  assert.deepEqual(evaluateRequirement("cuda<=12.2", f), { ok: true });
  assert.deepEqual(evaluateRequirement("", f), { ok: true });
  // brand and arch are not in nvidia-smi's inventory: unknown, they meet every condition (the library's rule).
  assert.deepEqual(evaluateRequirement("brand=tesla,arch>=9.0", f), { ok: true });
});

Deno.test("an expression the agent cannot read is left to Docker's hook, not refused", () => {
  for (const bad of ["foo=bar", "cuda=>12", "cuda>=12.x", "cuda>=", ">=12"]) {
    const c = check([`NVIDIA_REQUIRE_CUDA=${bad}`], R535);
    assert.equal(c.kind, "unchecked", bad);
    assert.ok(c.kind === "unchecked" && c.reason.startsWith("NVIDIA_REQUIRE_CUDA cannot be evaluated: "), bad);
  }
});

Deno.test("an unknown driver CUDA version refuses nothing", () => {
  const env = ["NVIDIA_REQUIRE_CUDA=cuda>=99.0"];
  for (const facts of [undefined, { driverVersion: "535.54.03", cudaVersion: null }]) {
    const c = check(env, facts);
    assert.ok(c.kind === "unchecked", JSON.stringify(c));
    assert.match(c.reason, /CUDA version is unknown/);
  }
});

Deno.test("NVIDIA_DISABLE_REQUIRE turns the check off for the values Go's ParseBool reads as true", () => {
  for (const v of ["true", "1", "t", "T", "TRUE", "True"]) {
    assert.equal(kind(check(["NVIDIA_REQUIRE_CUDA=cuda>=99.0", `NVIDIA_DISABLE_REQUIRE=${v}`], R590)), "disabled", v);
  }
  for (const v of ["false", "0", "yes", ""]) {
    assert.equal(
      kind(check(["NVIDIA_REQUIRE_CUDA=cuda>=99.0", `NVIDIA_DISABLE_REQUIRE=${v}`], R590)),
      "unsupported",
      v,
    );
  }
});

Deno.test("every NVIDIA_REQUIRE_* must hold, NVIDIA_REQUIRE_JETPACK* is ignored, NVIDIA_REQUIRE_CUDA comes first", () => {
  // The JETPACK values are the toolkit's own test values (cuda_image_test.go): they are not requirements.
  const env = [
    "NVIDIA_REQUIRE_JETPACK=csv-mounts=all",
    "NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS=base-only",
    "NVIDIA_REQUIRE_DRIVER=driver>=999",
    "NVIDIA_REQUIRE_CUDA=cuda>=11.6",
  ];
  const r = cudaRequirements(containerEnv(env));
  assert.deepEqual(r.requirements.map((x) => x.source), ["NVIDIA_REQUIRE_CUDA", "NVIDIA_REQUIRE_DRIVER"]);
  const c = check(env, R535, "lamda/job:1");
  assert.ok(c.kind === "unsupported");
  assert.equal(c.requirement.source, "NVIDIA_REQUIRE_DRIVER");
  assert.equal(
    c.message,
    "image lamda/job:1 requires driver>=999 (NVIDIA_REQUIRE_DRIVER); this node's driver 535.54.03 supports CUDA " +
      "12.2: use an image whose NVIDIA_REQUIRE_DRIVER this driver meets or update the NVIDIA driver",
  );
});

Deno.test("a legacy image's CUDA_VERSION becomes cuda>=major.minor, unless NVIDIA_REQUIRE_CUDA is set", () => {
  const legacy = cudaRequirements(containerEnv(LEGACY_CUDA_8_0_ENV));
  assert.deepEqual(legacy.requirements, [{ source: "CUDA_VERSION", expression: "cuda>=8.0" }]);
  assert.equal(kind(check(LEGACY_CUDA_8_0_ENV, R470)), "satisfied");
  const old = check(LEGACY_CUDA_8_0_ENV, driver("352.39", "7.5"), "nvidia/cuda:8.0-runtime-ubuntu14.04");
  assert.ok(old.kind === "unsupported");
  assert.match(old.message, /requires CUDA >= 8\.0 \(CUDA_VERSION of a legacy image\); .* supports CUDA 7\.5/);
  // major.minor of a patch version, as the toolkit's semver parse reads it.
  assert.deepEqual(cudaRequirements(containerEnv(["CUDA_VERSION=9.0.176"])).requirements, [
    { source: "CUDA_VERSION", expression: "cuda>=9.0" },
  ]);
  assert.deepEqual(cudaRequirements(containerEnv(["CUDA_VERSION=11"])).requirements[0].expression, "cuda>=11.0");
  // Not legacy once NVIDIA_REQUIRE_CUDA is set (the 12.4.1 image has CUDA_VERSION=12.4.1 too).
  assert.deepEqual(
    cudaRequirements(containerEnv([`NVIDIA_REQUIRE_CUDA=${CUDA_12_4_1}`, "CUDA_VERSION=12.4.1"])).requirements
      .map((x) => x.source),
    ["NVIDIA_REQUIRE_CUDA"],
  );
  // A CUDA_VERSION that is no version is left to the hook; an image without any of these states nothing.
  assert.equal(kind(check(["CUDA_VERSION=latest"], R535)), "unchecked");
  assert.equal(kind(check(["PATH=/bin", "NVIDIA_REQUIRE_CUDA="], R535)), "none");
});

Deno.test("the container's environment is the image's, overridden by the job's variables", () => {
  const env = containerEnv(["CUDA_VERSION=8.0", "PATH=/bin", "EMPTY=", "BARE"], { CUDA_VERSION: "99.0" });
  assert.equal(env.get("CUDA_VERSION"), "99.0");
  assert.equal(env.get("EMPTY"), "");
  assert.equal(env.get("BARE"), "");
  const c = checkCudaRequirement("legacy:1", env, R590);
  assert.ok(c.kind === "unsupported" && /requires CUDA >= 99\.0/.test(c.message));
});
