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

Deno.test("MIG instances register by their own name and memory: <GPU name> MIG <profile>, vram of the smallest", () => {
  const mig = (profile: string, memoryTotalMiB: number, device: number): GpuInfo => ({
    index: 0,
    id: `MIG-${device}`,
    uuid: "GPU-0",
    name: `NVIDIA H100 80GB HBM3 MIG ${profile}`,
    memoryTotalMiB,
    pciBusId: null,
    driverVersion: null,
    cudaVersion: null,
    health: null,
    mig: {
      profile,
      device,
      gpuInstanceId: null,
      computeInstanceId: null,
      gpuName: "NVIDIA H100 80GB HBM3",
      gpuMemoryTotalMiB: 81559,
      memorySource: "table",
    },
  });
  const one = { ...inventory([]), gpus: [mig("3g.40gb", 40448, 0)] };
  assert.deepEqual(registrationSpec(one), { gpuModel: "NVIDIA H100 80GB HBM3 MIG 3g.40gb", vram: 40448 });
  // A mixed host: whole GPUs and instances counted alike, each group by name.
  const whole = inventory([["NVIDIA H100 80GB HBM3", 81559]]).gpus[0];
  const mixed = { ...one, gpus: [whole, mig("3g.40gb", 40448, 0), mig("1g.10gb", 9984, 2), mig("1g.10gb", 9984, 3)] };
  assert.deepEqual(registrationSpec(mixed), {
    gpuModel: "2x NVIDIA H100 80GB HBM3 MIG 1g.10gb + 1x NVIDIA H100 80GB HBM3 + 1x NVIDIA H100 80GB HBM3 MIG 3g.40gb",
    vram: 9984,
  });
});
