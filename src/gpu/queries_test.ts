import assert from "node:assert/strict";
import { decodeThrottle, HEALTH_ARGS, healthRow, IDENTITY_ARGS, identityRow, parseCudaVersion } from "./queries.ts";

Deno.test("CUDA version is read from both summary header styles", () => {
  // Header lines as printed by drivers 590.48.01 and 610.57.04 (see testdata/nvidia-smi/README.md).
  assert.equal(
    parseCudaVersion("| NVIDIA-SMI 590.48.01              Driver Version: 590.48.01      CUDA Version: 13.1     |"),
    "13.1",
  );
  assert.equal(
    parseCudaVersion("| NVIDIA-SMI 610.57.04              KMD Version: 610.57.04     CUDA UMD Version: 13.3     |"),
    "13.3",
  );
  assert.equal(parseCudaVersion("No devices were found"), null);
});

Deno.test("throttle bitmasks decode to NVML reason names", () => {
  assert.deepEqual(decodeThrottle("0x0000000000000001"), ["gpu_idle"]);
  assert.deepEqual(decodeThrottle("0x0000000000000004"), ["sw_power_cap"]);
  assert.deepEqual(decodeThrottle("0x0000000000000048"), ["hw_slowdown", "hw_thermal_slowdown"]);
  assert.deepEqual(decodeThrottle("0x0000000000000000"), []);
  assert.deepEqual(decodeThrottle(null), []);
});

Deno.test("queries ask CSV without header or units", () => {
  for (const args of [IDENTITY_ARGS, HEALTH_ARGS]) assert.equal(args[1], "--format=csv,noheader,nounits");
});

Deno.test("identity rows reject a non-UUID, a bad bus id and unavailable memory", () => {
  const ok = [
    "0",
    "GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1",
    "NVIDIA H100 80GB HBM3",
    "81559",
    "565.57.01",
    "00000000:18:00.0",
  ];
  assert.equal(identityRow.safeParse(ok).success, true);
  assert.equal(identityRow.safeParse(ok.with(1, "0")).success, false);
  assert.equal(identityRow.safeParse(ok.with(5, "18:00")).success, false);
  assert.equal(identityRow.safeParse(ok.with(3, "[N/A]")).success, false);
  assert.deepEqual(identityRow.parse(ok.with(5, "[N/A]"))[5], null);
});

Deno.test("health rows map every unavailable marker to null and reject a malformed bitmask", () => {
  const row = ["0", "GPU-1", "[N/A]", "[Not Supported]", "[N/A]", "N/A", "[N/A]", "[N/A]", "[N/A]", "[N/A]"];
  assert.deepEqual(healthRow.parse(row), [0, "GPU-1", null, null, null, null, null, null, null, null]);
  assert.equal(healthRow.safeParse(row.with(6, "Active")).success, false);
});
