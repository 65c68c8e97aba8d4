import assert from "node:assert/strict";
import { expandMig, type GpuListing, parseGpuList, parseMigTable, profileMemoryMiB } from "./mig.ts";
import { formatInventoryTable } from "./command.ts";
import { registrationSpec } from "./registration.ts";
import type { GpuHealth, GpuInfo } from "./types.ts";

const FIXTURES = new URL("../../testdata/nvidia-smi/", import.meta.url);
const fixture = (path: string) => Deno.readTextFileSync(new URL(path, FIXTURES));

/**
 * `nvidia-smi -L` of a DGX A100 with 4 whole GPUs and 4 in MIG mode (driver 470.82.01), as recorded in
 * openshift-psap/blog-artifacts 77b00e8977328d777aed5276e75356e98dec4239,
 * `DGX-A100_GPU-Operator_testing/results/mlperf/dgx-test/20211209/gpu=2g.10gb_0gpu_x_1pod/run_20211217_1222.1e2f/
 * run-mlperf--1-mrf56.log` lines 2–25. Only `-L` was recorded there, so it is a parser test, not a fixture.
 */
const DGX_A100_MIXED = `GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-4dd97325-7fe6-abf1-d6a9-ba746fe0fdab)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-9e13f17f-a213-eb38-9a9c-0b2a540e4908)
GPU 2: NVIDIA A100-SXM4-40GB (UUID: GPU-1ae21a3c-f40b-77a7-002f-4b0b52b05f5b)
GPU 3: NVIDIA A100-SXM4-40GB (UUID: GPU-eeb0f073-2f03-6035-72a3-7b1ac76c5a72)
GPU 4: NVIDIA A100-SXM4-40GB (UUID: GPU-c9297a60-5079-9a56-b935-51e08dc0f65e)
  MIG 1g.5gb      Device  0: (UUID: MIG-1c5876e6-d3b9-524a-9eb4-664fcfbd4de2)
  MIG 1g.5gb      Device  1: (UUID: MIG-934fe587-ac95-5d75-bf9e-f40befeb9b28)
  MIG 1g.5gb      Device  2: (UUID: MIG-4dcaea94-446a-522c-88e1-e8fb193ca789)
  MIG 1g.5gb      Device  3: (UUID: MIG-dd39e743-ed46-5a4a-bf9b-2d33388a6b61)
  MIG 1g.5gb      Device  4: (UUID: MIG-144a6174-a7a4-5b1f-85d2-4088e307aaa7)
  MIG 1g.5gb      Device  5: (UUID: MIG-f25c64a5-afbc-5311-bc04-6ba3b4212a2a)
  MIG 1g.5gb      Device  6: (UUID: MIG-42b3ba88-8dc5-5e51-9c89-76885370b661)
GPU 5: NVIDIA A100-SXM4-40GB (UUID: GPU-4fb17cd5-cad8-31a6-34d3-08434d926140)
  MIG 2g.10gb     Device  0: (UUID: MIG-bd4c1a2b-57e1-5df5-ac76-30cd1423b65e)
  MIG 2g.10gb     Device  1: (UUID: MIG-82b0c2d6-8829-56e4-9c64-f7ba16ae6c95)
  MIG 2g.10gb     Device  2: (UUID: MIG-7bd5246b-d60f-5700-9106-8457dd4ca03c)
GPU 6: NVIDIA A100-SXM4-40GB (UUID: GPU-55b69871-247e-9b99-a60a-7daca59a4108)
  MIG 3g.20gb     Device  0: (UUID: MIG-2944fa25-4112-52cc-a727-1cf09ba63e98)
  MIG 3g.20gb     Device  1: (UUID: MIG-4c7db5d8-f005-5927-803e-9ee984a56e15)
GPU 7: NVIDIA A100-SXM4-40GB (UUID: GPU-fccb396c-ecba-9822-6217-a790cd2c9d3f)
  MIG 3g.20gb     Device  0: (UUID: MIG-b9e81bd3-7504-588b-b3e7-d7607ea5e8ba)
  MIG 2g.10gb     Device  1: (UUID: MIG-1765bea3-82da-57d7-b4d7-21c06f58c24a)
  MIG 1g.5gb      Device  2: (UUID: MIG-0b5ad859-df2d-5646-9b82-407a9ab33f44)
  MIG 1g.5gb      Device  3: (UUID: MIG-2bcdbd01-44e6-5f68-ae6f-77448d2529f9)
`;

Deno.test("nvidia-smi -L of the MIG H100: the GPU and its four instances with exact UUIDs and profiles", () => {
  assert.deepEqual(parseGpuList(fixture("h100-mig/list.txt")), [{
    index: 0,
    name: "NVIDIA H100 80GB HBM3",
    uuid: "GPU-00000000-0000-0000-0000-000000000000",
    mig: [
      { profile: "3g.40gb", device: 0, uuid: "MIG-00000000-0000-0000-0000-000000000000" },
      { profile: "2g.20gb", device: 1, uuid: "MIG-00000001-0000-0000-0000-000000000001" },
      { profile: "1g.10gb", device: 2, uuid: "MIG-00000002-0000-0000-0000-000000000002" },
      { profile: "1g.10gb", device: 3, uuid: "MIG-00000003-0000-0000-0000-000000000003" },
    ],
  }]);
});

Deno.test("nvidia-smi -L of the MIG H200: compute-instance profiles (1c.3g.71gb) keep their full name", () => {
  const [gpu] = parseGpuList(fixture("h200-mig/list.txt"));
  assert.equal(gpu.name, "NVIDIA H200");
  assert.deepEqual(gpu.mig.map((m) => [m.device, m.profile, m.uuid]), [
    [0, "1c.3g.71gb", "MIG-00000000-0000-0000-0000-000000000000"],
    [1, "2c.3g.71gb", "MIG-00000001-0000-0000-0000-000000000001"],
    [2, "2g.35gb", "MIG-00000002-0000-0000-0000-000000000002"],
    [3, "1g.18gb", "MIG-00000003-0000-0000-0000-000000000003"],
    [4, "1g.18gb", "MIG-00000004-0000-0000-0000-000000000004"],
  ]);
});

Deno.test("nvidia-smi -L of a mixed DGX A100: whole GPUs without instances, MIG GPUs with theirs", () => {
  const gpus = parseGpuList(DGX_A100_MIXED);
  assert.equal(gpus.length, 8);
  assert.ok(gpus.every((g, i) => g.index === i && g.name === "NVIDIA A100-SXM4-40GB"));
  assert.equal(gpus[0].uuid, "GPU-4dd97325-7fe6-abf1-d6a9-ba746fe0fdab");
  assert.deepEqual(gpus.map((g) => g.mig.length), [0, 0, 0, 0, 7, 3, 2, 4]);
  assert.deepEqual(gpus[7].mig, [
    { profile: "3g.20gb", device: 0, uuid: "MIG-b9e81bd3-7504-588b-b3e7-d7607ea5e8ba" },
    { profile: "2g.10gb", device: 1, uuid: "MIG-1765bea3-82da-57d7-b4d7-21c06f58c24a" },
    { profile: "1g.5gb", device: 2, uuid: "MIG-0b5ad859-df2d-5646-9b82-407a9ab33f44" },
    { profile: "1g.5gb", device: 3, uuid: "MIG-2bcdbd01-44e6-5f68-ae6f-77448d2529f9" },
  ]);
  assert.equal(gpus[4].mig[6].uuid, "MIG-42b3ba88-8dc5-5e51-9c89-76885370b661");
  assert.equal(new Set(gpus.flatMap((g) => g.mig.map((m) => m.uuid))).size, 16);
});

Deno.test("nvidia-smi -L parsing tolerates CRLF, other padding and blank lines; a broken line is an error", () => {
  const respaced = DGX_A100_MIXED.split("\n").slice(4, 7).map((l) => l.replace(/\s+/g, " ")).join("\r\n") + "\r\n\r\n";
  assert.deepEqual(parseGpuList(respaced)[0].mig.map((m) => m.device), [0, 1]);
  assert.equal(parseGpuList(respaced)[0].uuid, "GPU-c9297a60-5079-9a56-b935-51e08dc0f65e");
  assert.throws(() => parseGpuList(""), /no GPU line/);
  assert.throws(
    () => parseGpuList(DGX_A100_MIXED.split("\n").slice(5).join("\n")),
    /line 1: a MIG device before any GPU/,
  );
  const truncated = DGX_A100_MIXED.replace("(UUID: MIG-934fe587-ac95-5d75-bf9e-f40befeb9b28)", "(UUID:");
  assert.throws(() => parseGpuList(truncated), /Cannot parse nvidia-smi -L line 7: expected "MIG <profile> Device/);
});

Deno.test("MIG devices section of the summary table: exact memory by GPU and MIG Dev, GI/CI ids", () => {
  const h100 = parseMigTable(fixture("h100-mig/table.txt"));
  assert.deepEqual([...h100.values()], [
    { gpu: 0, gpuInstanceId: 2, computeInstanceId: 0, device: 0, memoryTotalMiB: 40448 },
    { gpu: 0, gpuInstanceId: 3, computeInstanceId: 0, device: 1, memoryTotalMiB: 20096 },
    { gpu: 0, gpuInstanceId: 9, computeInstanceId: 0, device: 2, memoryTotalMiB: 9984 },
    { gpu: 0, gpuInstanceId: 10, computeInstanceId: 0, device: 3, memoryTotalMiB: 9984 },
  ]);
  // Two compute instances of GPU instance 2 share its memory: both rows show all of it.
  const h200 = parseMigTable(fixture("h200-mig/table.txt"));
  assert.deepEqual([...h200.values()].map((r) => [r.device, r.gpuInstanceId, r.computeInstanceId, r.memoryTotalMiB]), [
    [0, 2, 0, 71424],
    [1, 2, 1, 71424],
    [2, 3, 0, 33280],
    [3, 9, 0, 16384],
    [4, 10, 0, 16384],
  ]);
  assert.equal(parseMigTable(fixture("h100-single/table.txt")).size, 0);
  assert.equal(parseMigTable("").size, 0);
});

Deno.test("profile names give an approximate size, never below the measured one", () => {
  assert.equal(profileMemoryMiB("3g.40gb"), 40960);
  assert.equal(profileMemoryMiB("1c.3g.71gb"), 72704);
  assert.equal(profileMemoryMiB("1g.10gb+me"), 10240);
  assert.equal(profileMemoryMiB("1g"), null);
  // Measured sizes: the H100 and H200 tables, and the DGX A100's GPU Feature Discovery labels
  // (nvidia.com/mig-1g.5gb.memory etc. in the same run's node_dgxa100.yaml).
  const measured: [string, number][] = [
    ["3g.40gb", 40448],
    ["2g.20gb", 20096],
    ["1g.10gb", 9984],
    ["1c.3g.71gb", 71424],
    ["2g.35gb", 33280],
    ["1g.18gb", 16384],
    ["1g.5gb", 4864],
    ["2g.10gb", 9984],
    ["3g.20gb", 20096],
  ];
  for (const [profile, mib] of measured) {
    const approx = profileMemoryMiB(profile)!;
    assert.ok(approx >= mib && approx <= mib * 1.13, `${profile}: ${approx} vs ${mib}`);
  }
});

function health(migMode: GpuHealth["migMode"]): GpuHealth {
  return {
    temperatureC: null,
    utilizationPercent: null,
    eccErrors: { correctedVolatile: null, uncorrectedVolatile: null },
    throttle: { mask: null, reasons: [] },
    powerDrawW: null,
    powerLimitW: null,
    migMode,
    warnings: [],
  };
}

/**
 * The DGX A100 as identity rows would give it: index, UUID and name from its `-L`, memory.total 40536 MiB and driver
 * 470.82.01 from the same run's GPU Feature Discovery labels; MIG mode as `-L` shows it (no health was recorded).
 */
function dgxGpus(modes: (GpuHealth["migMode"] | "no-health")[]): GpuInfo[] {
  return parseGpuList(DGX_A100_MIXED).map((g) => ({
    index: g.index,
    id: g.uuid,
    uuid: g.uuid,
    name: g.name,
    memoryTotalMiB: 40536,
    pciBusId: null,
    driverVersion: "470.82.01",
    cudaVersion: null,
    health: modes[g.index] === "no-health" ? null : health(modes[g.index] as GpuHealth["migMode"]),
  }));
}

const DGX_MODES = ["Disabled", "Disabled", "Disabled", "Disabled", "Enabled", "Enabled", "Enabled", "Enabled"] as const;

Deno.test("a mixed host: whole GPUs stay, each MIG GPU becomes its instances, in nvidia-smi's order", () => {
  const listing: GpuListing = { gpus: parseGpuList(DGX_A100_MIXED) };
  const { gpus, unschedulable, approximate } = expandMig(dgxGpus([...DGX_MODES]), listing, new Map());
  assert.equal(gpus.length, 4 + 16);
  assert.deepEqual(unschedulable, []);
  assert.deepEqual(gpus.slice(0, 4).map((g) => [g.id, g.mig]), [
    ["GPU-4dd97325-7fe6-abf1-d6a9-ba746fe0fdab", undefined],
    ["GPU-9e13f17f-a213-eb38-9a9c-0b2a540e4908", undefined],
    ["GPU-1ae21a3c-f40b-77a7-002f-4b0b52b05f5b", undefined],
    ["GPU-eeb0f073-2f03-6035-72a3-7b1ac76c5a72", undefined],
  ]);
  assert.ok(gpus.slice(0, 4).every((g) => !("mig" in g)), "a whole GPU carries no mig field");
  const gpu7 = gpus.filter((g) => g.index === 7);
  assert.deepEqual(gpu7.map((g) => [g.id, g.uuid, g.name, g.memoryTotalMiB]), [
    [
      "MIG-b9e81bd3-7504-588b-b3e7-d7607ea5e8ba",
      "GPU-fccb396c-ecba-9822-6217-a790cd2c9d3f",
      "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
      20480,
    ],
    [
      "MIG-1765bea3-82da-57d7-b4d7-21c06f58c24a",
      "GPU-fccb396c-ecba-9822-6217-a790cd2c9d3f",
      "NVIDIA A100-SXM4-40GB MIG 2g.10gb",
      10240,
    ],
    [
      "MIG-0b5ad859-df2d-5646-9b82-407a9ab33f44",
      "GPU-fccb396c-ecba-9822-6217-a790cd2c9d3f",
      "NVIDIA A100-SXM4-40GB MIG 1g.5gb",
      5120,
    ],
    [
      "MIG-2bcdbd01-44e6-5f68-ae6f-77448d2529f9",
      "GPU-fccb396c-ecba-9822-6217-a790cd2c9d3f",
      "NVIDIA A100-SXM4-40GB MIG 1g.5gb",
      5120,
    ],
  ]);
  assert.deepEqual(gpu7[0].mig, {
    profile: "3g.20gb",
    device: 0,
    gpuInstanceId: null,
    computeInstanceId: null,
    gpuName: "NVIDIA A100-SXM4-40GB",
    gpuMemoryTotalMiB: 40536,
    memorySource: "profile",
  });
  assert.equal(approximate.length, 16, "no table: every instance's size is the profile's");
  const table = formatInventoryTable({ mode: "nvidia", driverVersion: "470.82.01", cudaVersion: null, gpus });
  assert.equal(table[0], "driver 470.82.01, CUDA unknown, 4 whole GPU(s) + 16 MIG instance(s) on 4 GPU(s)");
  assert.match(
    table[6],
    /^4\s+MIG-1c5876e6-d3b9-524a-9eb4-664fcfbd4de2\s+NVIDIA A100-SXM4-40GB MIG 1g\.5gb\s+~5120 MiB\s/,
  );
  assert.deepEqual(registrationSpec({ mode: "nvidia", driverVersion: null, cudaVersion: null, gpus }), {
    gpuModel: "9x NVIDIA A100-SXM4-40GB MIG 1g.5gb + 4x NVIDIA A100-SXM4-40GB + " +
      "4x NVIDIA A100-SXM4-40GB MIG 2g.10gb + 3x NVIDIA A100-SXM4-40GB MIG 3g.20gb",
    vram: 5120,
  });
});

Deno.test("a failed -L leaves each MIG GPU unschedulable with the reason, and the whole GPUs schedulable", () => {
  const listing: GpuListing = { error: "nvidia-smi exited with code 2: no answer" };
  const { gpus, unschedulable } = expandMig(dgxGpus([...DGX_MODES]), listing, new Map());
  assert.deepEqual(gpus.map((g) => g.index), [0, 1, 2, 3]);
  assert.deepEqual(unschedulable.map((u) => u.index), [4, 5, 6, 7]);
  assert.equal(
    unschedulable[0].reason,
    "it is in MIG mode and its MIG instances cannot be listed: nvidia-smi exited with code 2: no answer",
  );
  const table = formatInventoryTable({
    mode: "nvidia",
    driverVersion: "470.82.01",
    cudaVersion: null,
    gpus,
    unschedulable,
  });
  assert.equal(table[0], "driver 470.82.01, CUDA unknown, 4 GPU(s)");
  assert.equal(
    table.filter((l) => l.startsWith("warning:")).length,
    4,
    "one line per unschedulable GPU",
  );
  assert.ok(table.includes(
    "warning: GPU 4 (NVIDIA A100-SXM4-40GB) takes no job: it is in MIG mode and its MIG instances cannot be " +
      "listed: nvidia-smi exited with code 2: no answer",
  ));
});

Deno.test("a MIG GPU without instances offers nothing, and says how to fix it", () => {
  const listed = parseGpuList(DGX_A100_MIXED);
  listed[5].mig = [];
  const { gpus, unschedulable } = expandMig(dgxGpus([...DGX_MODES]), { gpus: listed }, new Map());
  assert.equal(gpus.filter((g) => g.index === 5).length, 0);
  assert.equal(unschedulable.length, 1);
  assert.equal(unschedulable[0].uuid, "GPU-4fb17cd5-cad8-31a6-34d3-08434d926140");
  assert.match(unschedulable[0].reason, /without MIG instances: create them .*nvidia-smi mig -i 5 -cgi/);
  assert.match(unschedulable[0].reason, /disable MIG \(`nvidia-smi -i 5 -mig 0`\)/);
});

Deno.test("MIG mode unknown (no health): -L decides; without a listing the GPUs stay whole", () => {
  const noHealth = dgxGpus(Array(8).fill("no-health"));
  const listed = expandMig(noHealth, { gpus: parseGpuList(DGX_A100_MIXED) }, new Map());
  assert.equal(listed.gpus.length, 20);
  const failed = expandMig(noHealth, { error: "nvidia-smi exited with code 2" }, new Map());
  assert.deepEqual(failed.gpus.map((g) => g.id), noHealth.map((g) => g.id));
  assert.deepEqual(failed.unschedulable, []);
  // Health says Disabled: -L is not even consulted.
  const disabled = expandMig(dgxGpus(Array(8).fill("Disabled")), { gpus: parseGpuList(DGX_A100_MIXED) }, new Map());
  assert.equal(disabled.gpus.length, 8);
});

Deno.test("a -L GPU is matched by index and UUID; one missing from -L is unschedulable", () => {
  const listed = parseGpuList(DGX_A100_MIXED).filter((g) => g.index !== 6);
  const { unschedulable } = expandMig(dgxGpus([...DGX_MODES]), { gpus: listed }, new Map());
  assert.deepEqual(unschedulable.map((u) => [u.index, u.reason]), [[
    6,
    "it is in MIG mode and nvidia-smi -L does not list it",
  ]]);
});
