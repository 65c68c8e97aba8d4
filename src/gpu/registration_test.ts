import assert from "node:assert/strict";
import { cpuOnlyInventory } from "./detect.ts";
import { CPU_ONLY_MODEL, registrationSpec } from "./registration.ts";
import type { GpuInfo, GpuInventory } from "./types.ts";

function inventory(gpus: [string, number][]): GpuInventory {
  const list: GpuInfo[] = gpus.map(([name, memoryTotalMiB], index) => ({
    index,
    id: `GPU-${index}`,
    uuid: `GPU-${index}`,
    name,
    memoryTotalMiB,
    pciBusId: null,
    driverVersion: null,
    cudaVersion: null,
    health: null,
  }));
  return { mode: "nvidia", driverVersion: null, cudaVersion: null, gpus: list };
}

Deno.test("a single GPU registers its plain name and memory", () => {
  assert.deepEqual(registrationSpec(inventory([["NVIDIA L40S", 46068]])), { gpuModel: "NVIDIA L40S", vram: 46068 });
});

Deno.test("several identical GPUs register as <count>x <name>", () => {
  const spec = registrationSpec(inventory([["NVIDIA A40", 46068], ["NVIDIA A40", 46068], ["NVIDIA A40", 46068]]));
  assert.deepEqual(spec, { gpuModel: "3x NVIDIA A40", vram: 46068 });
});

Deno.test("mixed GPUs: largest group first, ties by name, vram of the smallest, independent of index order", () => {
  const a = inventory([["NVIDIA GeForce RTX 5090", 32607], ["NVIDIA GeForce RTX 3090", 24576], [
    "NVIDIA GeForce RTX 3090",
    24576,
  ], ["NVIDIA RTX A6000", 49140]]);
  const expected = {
    gpuModel: "2x NVIDIA GeForce RTX 3090 + 1x NVIDIA GeForce RTX 5090 + 1x NVIDIA RTX A6000",
    vram: 24576,
  };
  assert.deepEqual(registrationSpec(a), expected);
  assert.deepEqual(registrationSpec({ ...a, gpus: [...a.gpus].reverse() }), expected);
});

Deno.test("CPU-only mode registers a model saying so and vram 0", () => {
  assert.deepEqual(registrationSpec(cpuOnlyInventory(4)), { gpuModel: CPU_ONLY_MODEL, vram: 0 });
  assert.equal(CPU_ONLY_MODEL, "CPU-only (development)");
});

Deno.test("an inventory without GPUs cannot be registered", () => {
  assert.throws(() => registrationSpec(inventory([])), RangeError);
});

Deno.test("CPU-only slots must be a positive integer", () => {
  assert.throws(() => cpuOnlyInventory(0), RangeError);
  assert.deepEqual(cpuOnlyInventory(2).gpus.map((g) => g.id), ["cpu-0", "cpu-1"]);
});
