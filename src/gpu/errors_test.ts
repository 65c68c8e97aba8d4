import assert from "node:assert/strict";
import { classifyFailure, GpuError } from "./errors.ts";

Deno.test("a version mismatch is classified with the library version and the fix", () => {
  const err = classifyFailure(
    18,
    "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580.178\n",
    "",
  );
  assert.ok(err instanceof GpuError);
  assert.equal(err.name, "GpuError");
  assert.equal(err.kind, "driver_mismatch");
  assert.match(err.message, /NVML library version 580\.178/);
});

Deno.test("the old one-line mismatch message (no library version) is still a mismatch", () => {
  const err = classifyFailure(18, "Failed to initialize NVML: Driver/library version mismatch\n", "");
  assert.equal(err.kind, "driver_mismatch");
  assert.doesNotMatch(err.message, /NVML library version/);
});

Deno.test("no devices is its own kind, pointing at GPU_REQUIRED=false", () => {
  const err = classifyFailure(6, "No devices were found\n", "");
  assert.equal(err.kind, "no_devices");
  assert.match(err.message, /GPU_REQUIRED=false/);
});

Deno.test("an unknown failure keeps the exit code and the first line of output", () => {
  const err = classifyFailure(2, "", '\nField "bogus" is not a valid field to query.\n\n');
  assert.equal(err.kind, "failed");
  assert.equal(err.exitCode, 2);
  assert.equal(err.message, 'nvidia-smi exited with code 2: Field "bogus" is not a valid field to query.');
});
