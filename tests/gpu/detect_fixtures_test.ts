/** Detection against recorded real nvidia-smi outputs, replayed by a fake nvidia-smi first on PATH. */
import assert from "node:assert/strict";
import {
  CommandNvidiaSmiRunner,
  cpuOnlyInventory,
  detectGpus,
  GpuError,
  type GpuInventory,
  NOT_FOUND_MESSAGE,
  type NvidiaSmiRunner,
  readGpuHealth,
  registrationSpec,
} from "../../src/gpu/mod.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { fakeNvidiaSmi } from "./fake_nvidia_smi.ts";

async function detectFixture(fixture: string, options: { required?: boolean } = {}): Promise<GpuInventory> {
  await using fake = await fakeNvidiaSmi(fixture);
  // The bare name is resolved on the child's PATH, where the fake comes first.
  return await detectGpus({ env: fake.env, timeoutMs: 5_000, ...options });
}

async function detectFailure(fixture: string, options: { required?: boolean } = {}): Promise<GpuError> {
  const err = await detectFixture(fixture, options).then(
    () => assert.fail(`detection of ${fixture} should fail`),
    (e) => e,
  );
  assert.ok(err instanceof GpuError, `expected GpuError, got ${err}`);
  return err;
}

Deno.test("one H100 (driver 590.48.01): full inventory with health and CUDA 13.1", async () => {
  const inv = await detectFixture("h100-single");
  assert.equal(inv.mode, "nvidia");
  assert.equal(inv.driverVersion, "590.48.01");
  assert.equal(inv.cudaVersion, "13.1");
  assert.equal(inv.healthError, undefined);
  assert.deepEqual(inv.gpus, [{
    index: 0,
    id: "GPU-00000000-0000-0000-0000-000000000000",
    uuid: "GPU-00000000-0000-0000-0000-000000000000",
    name: "NVIDIA H100 80GB HBM3",
    memoryTotalMiB: 81559,
    pciBusId: "00000000:00:09.0",
    driverVersion: "590.48.01",
    cudaVersion: "13.1",
    health: {
      temperatureC: 41,
      utilizationPercent: 0,
      eccErrors: { correctedVolatile: 0, uncorrectedVolatile: 0 },
      throttle: { mask: "0x0000000000000001", reasons: ["gpu_idle"] },
      powerDrawW: 69.85,
      powerLimitW: 700,
      migMode: "Disabled",
      warnings: [],
    },
  }]);
  assert.deepEqual(registrationSpec(inv), { gpuModel: "NVIDIA H100 80GB HBM3", vram: 81559 });
});

Deno.test("8-GPU H100 host (driver 565.57.01): all eight GPUs in index order, registered as 8x", async () => {
  const inv = await detectFixture("h100x8");
  assert.equal(inv.gpus.length, 8);
  assert.deepEqual(inv.gpus.map((g) => g.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(new Set(inv.gpus.map((g) => g.uuid)).size, 8, "every GPU keeps its own UUID");
  assert.deepEqual(inv.gpus.map((g) => g.pciBusId), [
    "00000000:18:00.0",
    "00000000:2A:00.0",
    "00000000:3A:00.0",
    "00000000:5D:00.0",
    "00000000:9A:00.0",
    "00000000:AB:00.0",
    "00000000:BA:00.0",
    "00000000:DB:00.0",
  ]);
  assert.equal(inv.gpus[7].id, "GPU-33135771-a848-ece1-b61e-489e221d663c");
  assert.deepEqual(inv.gpus.map((g) => g.health?.powerDrawW), [
    100.89,
    82.81,
    85.98,
    85.48,
    84.94,
    85.27,
    86.05,
    75.09,
  ]);
  assert.deepEqual(inv.gpus.map((g) => g.health?.temperatureC), [30, 30, 31, 29, 28, 30, 29, 29]);
  assert.equal(inv.cudaVersion, "12.7");
  assert.equal(inv.driverVersion, "565.57.01");
  assert.deepEqual(registrationSpec(inv), { gpuModel: "8x NVIDIA H100 80GB HBM3", vram: 81559 });
});

Deno.test("mixed RTX 5090 + RTX 3090 Ti: counts per name, vram of the smallest, missing health reported not fatal", async () => {
  await using fake = await fakeNvidiaSmi("mixed-5090-3090ti");
  const inv = await detectGpus({ env: fake.env, timeoutMs: 5_000 });
  assert.deepEqual(inv.gpus.map((g) => [g.name, g.memoryTotalMiB]), [
    ["NVIDIA GeForce RTX 5090", 32607],
    ["NVIDIA GeForce RTX 3090 Ti", 24564],
  ]);
  assert.equal(inv.cudaVersion, "13.2");
  // This recording has no health query: detection must survive a failing health query and say why.
  assert.ok(inv.gpus.every((g) => g.health === null));
  assert.match(inv.healthError ?? "", /nvidia-smi exited with code 2/);
  // With MIG mode unknown the agent asks -L too; that fails here as well, and the GPUs stay whole.
  assert.equal((await fake.calls()).at(-1), "[-L]");
  assert.deepEqual(inv.gpus.map((g) => g.mig), [undefined, undefined]);
  assert.equal(inv.unschedulable, undefined);
  assert.deepEqual(registrationSpec(inv), {
    gpuModel: "1x NVIDIA GeForce RTX 3090 Ti + 1x NVIDIA GeForce RTX 5090",
    vram: 24564,
  });
});

Deno.test("MIG-enabled H100: four schedulable MIG instances with the table's exact memory, no MIG warning", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig");
  const inv = await detectGpus({ env: fake.env, timeoutMs: 5_000 });
  const gpu = "GPU-00000000-0000-0000-0000-000000000000";
  assert.deepEqual(inv.gpus.map((g) => [g.id, g.uuid, g.index, g.name, g.memoryTotalMiB]), [
    ["MIG-00000000-0000-0000-0000-000000000000", gpu, 0, "NVIDIA H100 80GB HBM3 MIG 3g.40gb", 40448],
    ["MIG-00000001-0000-0000-0000-000000000001", gpu, 0, "NVIDIA H100 80GB HBM3 MIG 2g.20gb", 20096],
    ["MIG-00000002-0000-0000-0000-000000000002", gpu, 0, "NVIDIA H100 80GB HBM3 MIG 1g.10gb", 9984],
    ["MIG-00000003-0000-0000-0000-000000000003", gpu, 0, "NVIDIA H100 80GB HBM3 MIG 1g.10gb", 9984],
  ]);
  assert.deepEqual(inv.gpus[0].mig, {
    profile: "3g.40gb",
    device: 0,
    gpuInstanceId: 2,
    computeInstanceId: 0,
    gpuName: "NVIDIA H100 80GB HBM3",
    gpuMemoryTotalMiB: 81559,
    memorySource: "table",
  });
  assert.deepEqual(inv.gpus.map((g) => g.mig?.gpuInstanceId), [2, 3, 9, 10]);
  assert.ok(inv.gpus.every((g) => g.pciBusId === "00000000:00:09.0" && g.driverVersion === "590.48.01"));
  // The parent's health reading applies to each of its instances.
  const health = inv.gpus[0].health!;
  assert.ok(inv.gpus.every((g) => g.health === health));
  assert.equal(health.migMode, "Enabled");
  assert.equal(health.utilizationPercent, null);
  assert.equal(health.temperatureC, 42);
  assert.deepEqual(health.warnings, []);
  assert.equal(inv.unschedulable, undefined);
  assert.deepEqual(registrationSpec(inv), {
    gpuModel: "2x NVIDIA H100 80GB HBM3 MIG 1g.10gb + 1x NVIDIA H100 80GB HBM3 MIG 2g.20gb + " +
      "1x NVIDIA H100 80GB HBM3 MIG 3g.40gb",
    vram: 9984,
  });
  assert.deepEqual(await fake.calls(), [
    "[--query-gpu=index,uuid,name,memory.total,driver_version,pci.bus_id --format=csv,noheader,nounits]",
    "[]",
    "[--query-gpu=index,uuid,temperature.gpu,utilization.gpu,ecc.errors.corrected.volatile.total," +
    "ecc.errors.uncorrected.volatile.total,clocks_throttle_reasons.active,power.draw,power.limit,mig.mode.current " +
    "--format=csv,noheader,nounits]",
    "[-L]",
  ]);
});

Deno.test("MIG-enabled H200: five instances, two compute instances sharing one GPU instance's memory", async () => {
  const inv = await detectFixture("h200-mig");
  assert.equal(inv.driverVersion, "590.48.01");
  assert.equal(inv.cudaVersion, "13.1");
  assert.deepEqual(
    inv.gpus.map((g) => [g.id, g.name, g.memoryTotalMiB, g.mig?.gpuInstanceId, g.mig?.computeInstanceId]),
    [
      ["MIG-00000000-0000-0000-0000-000000000000", "NVIDIA H200 MIG 1c.3g.71gb", 71424, 2, 0],
      ["MIG-00000001-0000-0000-0000-000000000001", "NVIDIA H200 MIG 2c.3g.71gb", 71424, 2, 1],
      ["MIG-00000002-0000-0000-0000-000000000002", "NVIDIA H200 MIG 2g.35gb", 33280, 3, 0],
      ["MIG-00000003-0000-0000-0000-000000000003", "NVIDIA H200 MIG 1g.18gb", 16384, 9, 0],
      ["MIG-00000004-0000-0000-0000-000000000004", "NVIDIA H200 MIG 1g.18gb", 16384, 10, 0],
    ],
  );
  assert.ok(inv.gpus.every((g) => g.mig?.memorySource === "table" && g.mig.gpuMemoryTotalMiB === 143771));
  assert.ok(inv.gpus.every((g) => g.health?.powerDrawW === 78.28 && g.health.migMode === "Enabled"));
  assert.deepEqual(registrationSpec(inv), {
    gpuModel: "2x NVIDIA H200 MIG 1g.18gb + 1x NVIDIA H200 MIG 1c.3g.71gb + 1x NVIDIA H200 MIG 2c.3g.71gb + " +
      "1x NVIDIA H200 MIG 2g.35gb",
    vram: 16384,
  });
});

Deno.test("MIG H100 without its summary table: instance sizes from the profile names, marked approximate", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig", { withhold: ["table.txt"] });
  const inv = await detectGpus({ env: fake.env, timeoutMs: 5_000 });
  assert.equal(inv.cudaVersion, null);
  assert.deepEqual(inv.gpus.map((g) => [g.memoryTotalMiB, g.mig?.memorySource, g.mig?.gpuInstanceId]), [
    [40960, "profile", null],
    [20480, "profile", null],
    [10240, "profile", null],
    [10240, "profile", null],
  ]);
});

Deno.test("a failing nvidia-smi -L: the MIG GPU takes no job, with a warning; a host left without units fails", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig", { withhold: ["list.txt"] });
  const writer = new MemoryWriter();
  const err = await detectGpus({ env: fake.env, timeoutMs: 5_000, logger: new Logger({ writer, level: "debug" }) })
    .catch((e) => e);
  assert.ok(err instanceof GpuError);
  assert.equal(err.kind, "no_devices");
  assert.match(
    err.message,
    /^No GPU can take jobs: GPU 0 \(NVIDIA H100 80GB HBM3\): it is in MIG mode and its MIG instances cannot be listed: nvidia-smi exited with code 2: fake nvidia-smi: fixture h100-mig has no recorded list\.txt$/,
  );
  const warnings = writer.records.filter((r) => r.level === "warn" && r.fields.component === "gpu");
  assert.ok(warnings.some((r) => r.msg === "MIG instances cannot be listed"));
  assert.ok(warnings.some((r) => /^GPU 0 \(NVIDIA H100 80GB HBM3\) takes no job: it is in MIG mode/.test(r.msg)));
  assert.ok(!writer.records.some((r) => /jobs get the whole GPU/.test(r.msg)));
});

Deno.test("a hung nvidia-smi -L fails detection like a hung health query: the driver is hung", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig");
  const real = new CommandNvidiaSmiRunner({ env: fake.env, timeoutMs: 5_000 });
  const runner: NvidiaSmiRunner = {
    run(args, o) {
      if (args[0] === "-L") return Promise.reject(new GpuError("timeout", "nvidia-smi did not answer within 300ms"));
      return real.run(args, o);
    },
  };
  const err = await detectGpus({ runner }).catch((e) => e);
  assert.ok(err instanceof GpuError);
  assert.equal(err.kind, "timeout");
});

Deno.test("GeForce RTX 2080 SUPER with [N/A] ECC and MIG fields: nulls, and the SW power cap decoded", async () => {
  const inv = await detectFixture("rtx2080super-na");
  const gpu = inv.gpus[0];
  assert.equal(gpu.name, "NVIDIA GeForce RTX 2080 SUPER");
  assert.deepEqual(gpu.health, {
    temperatureC: 40,
    utilizationPercent: 0,
    eccErrors: { correctedVolatile: null, uncorrectedVolatile: null },
    throttle: { mask: "0x0000000000000004", reasons: ["sw_power_cap"] },
    powerDrawW: 39.32,
    powerLimitW: 250,
    migMode: null,
    warnings: [],
  });
  assert.equal(inv.cudaVersion, "13.2");
  assert.deepEqual(registrationSpec(inv), { gpuModel: "NVIDIA GeForce RTX 2080 SUPER", vram: 8192 });
});

Deno.test("driver/library version mismatch: its own error with the reboot/reinstall fix", async () => {
  const err = await detectFailure("driver-mismatch");
  assert.equal(err.kind, "driver_mismatch");
  assert.equal(err.exitCode, 18);
  assert.match(err.message, /Driver\/library version mismatch, NVML library version 550\.144/);
  assert.match(err.message, /reboot/);
  assert.match(err.message, /reinstall the driver/);
});

Deno.test("driver mismatch is not papered over by GPU_REQUIRED=false", async () => {
  const err = await detectFailure("driver-mismatch", { required: false });
  assert.equal(err.kind, "driver_mismatch");
});

Deno.test("NVIDIA-SMI has failed (no kernel module): its own error naming the driver", async () => {
  const err = await detectFailure("driver-unreachable");
  assert.equal(err.kind, "driver_unreachable");
  assert.equal(err.exitCode, 9);
  assert.match(err.message, /could not communicate with the NVIDIA driver/);
  assert.match(err.message, /lsmod/);
});

Deno.test("binary missing: the exact message, by path and on PATH", async () => {
  const byPath = await detectGpus({ nvidiaSmiPath: "/nonexistent/nvidia-smi" }).catch((e) => e);
  assert.ok(byPath instanceof GpuError);
  assert.equal(byPath.kind, "not_found");
  assert.equal(byPath.message, NOT_FOUND_MESSAGE);
  assert.equal(
    NOT_FOUND_MESSAGE,
    "nvidia-smi not found: install the NVIDIA driver, or set GPU_REQUIRED=false for a CPU-only development node",
  );
  const empty = await Deno.makeTempDir();
  try {
    const onPath = await detectGpus({ env: { PATH: empty } }).catch((e) => e);
    assert.ok(onPath instanceof GpuError);
    assert.equal(onPath.kind, "not_found");
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("binary missing with GPU_REQUIRED=false: CPU-only pseudo GPUs cpu-0.. and the development model", async () => {
  const inv = await detectGpus({ nvidiaSmiPath: "/nonexistent/nvidia-smi", required: false, cpuOnlySlots: 3 });
  assert.deepEqual(inv, cpuOnlyInventory(3));
  assert.deepEqual(inv.gpus.map((g) => g.id), ["cpu-0", "cpu-1", "cpu-2"]);
  assert.deepEqual(registrationSpec(inv), { gpuModel: "CPU-only (development)", vram: 0 });
});

Deno.test("hung nvidia-smi: killed at the timeout with its own error", async () => {
  await using fake = await fakeNvidiaSmi("h100-single", { hangSeconds: 30 });
  const started = performance.now();
  const err = await detectGpus({ env: fake.env, timeoutMs: 300 }).catch((e) => e);
  const elapsed = performance.now() - started;
  assert.ok(err instanceof GpuError);
  assert.equal(err.kind, "timeout");
  assert.match(err.message, /did not answer within 300ms/);
  assert.match(err.message, /NVIDIA_SMI_TIMEOUT/);
  assert.ok(elapsed < 5_000, `timeout took ${elapsed} ms`);
});

Deno.test("hung nvidia-smi with GPU_REQUIRED=false still fails: a hang is not a CPU-only host", async () => {
  await using fake = await fakeNvidiaSmi("h100-single", { hangSeconds: 30 });
  const err = await detectGpus({ env: fake.env, timeoutMs: 300, required: false }).catch((e) => e);
  assert.ok(err instanceof GpuError);
  assert.equal(err.kind, "timeout");
});

Deno.test("the agent asks exactly the recorded queries, with LC_ALL=C", async () => {
  await using fake = await fakeNvidiaSmi("h100x8");
  await detectGpus({ env: fake.env });
  const calls = await fake.calls();
  assert.equal(calls.length, 3);
  assert.match(calls[0], /^\[--query-gpu=index,uuid,name,memory\.total,driver_version,pci\.bus_id /);
  assert.equal(calls[1], "[]");
  assert.match(calls[2], /^\[--query-gpu=index,uuid,temperature\.gpu,/);
});

Deno.test("hosts without MIG mode make no nvidia-smi -L call, [N/A] MIG mode included", async () => {
  for (const fixture of ["h100-single", "rtx2080super-na"]) {
    await using fake = await fakeNvidiaSmi(fixture);
    await detectGpus({ env: fake.env });
    const calls = await fake.calls();
    assert.equal(calls.length, 3, fixture);
    assert.ok(!calls.includes("[-L]"), fixture);
  }
});

Deno.test("readGpuHealth alone reads every GPU of the 8-GPU host", async () => {
  await using fake = await fakeNvidiaSmi("h100x8");
  const readings = await readGpuHealth({ env: fake.env });
  assert.equal(readings.length, 8);
  assert.ok(readings.every((r) => r.health.eccErrors.uncorrectedVolatile === 0 && r.health.migMode === "Disabled"));
});

Deno.test("an aborted signal stops detection before nvidia-smi answers", async () => {
  await using fake = await fakeNvidiaSmi("h100-single", { hangSeconds: 30 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("shutting down")), 100);
  const err = await detectGpus({ env: fake.env, timeoutMs: 10_000, signal: controller.signal }).catch((e) => e);
  assert.equal((err as Error).message, "shutting down");
});
