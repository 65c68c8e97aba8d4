import assert from "node:assert/strict";
import type { GpuHealthReading } from "./detect.ts";
import {
  GpuHealthMonitor,
  type HealthSnapshot,
  readHealthSnapshot,
  splitHealthOutput,
  type UnitHealth,
} from "./health_monitor.ts";
import { assessHealth } from "./health_policy.ts";
import type { GpuHealth } from "./types.ts";

/** A reading of a working GPU (the shape of the h100-single fixture's row). */
function health(over: Partial<GpuHealth> = {}): GpuHealth {
  return {
    temperatureC: 33,
    utilizationPercent: 0,
    eccErrors: { correctedVolatile: 0, uncorrectedVolatile: 0 },
    throttle: { mask: "0x0000000000000001", reasons: ["gpu_idle"] },
    powerDrawW: 69.85,
    powerLimitW: 700,
    migMode: "Disabled",
    warnings: [],
    ...over,
  };
}

const A = "GPU-aaaaaaaa-0000-0000-0000-000000000000";
const B = "GPU-bbbbbbbb-0000-0000-0000-000000000000";
const reading = (uuid: string, h: GpuHealth): GpuHealthReading => ({ index: uuid === A ? 0 : 1, uuid, health: h });

Deno.test("fatal: uncorrected ECC and hardware slowdowns; warnings: software thermal slowdown and heat; idle is fine", () => {
  assert.deepEqual(assessHealth(health()), []);
  assert.deepEqual(assessHealth(health({ throttle: { mask: "0x4", reasons: ["sw_power_cap"] } })), []);
  const codes = (h: GpuHealth) => assessHealth(h).map((c) => `${c.severity}:${c.code}`);
  assert.deepEqual(codes(health({ eccErrors: { correctedVolatile: 5, uncorrectedVolatile: 2 } })), [
    "fatal:uncorrected_ecc",
  ]);
  assert.deepEqual(
    codes(
      health({
        throttle: {
          mask: "0xe8",
          reasons: ["hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"],
        },
      }),
    ),
    ["fatal:hw_slowdown", "fatal:hw_thermal_slowdown", "fatal:hw_power_brake", "warning:sw_thermal_slowdown"],
  );
  assert.deepEqual(codes(health({ temperatureC: 91 })), ["warning:hot"]);
  // Values nvidia-smi reports as unavailable are no finding.
  assert.deepEqual(
    codes(health({ temperatureC: null, eccErrors: { correctedVolatile: null, uncorrectedVolatile: null } })),
    [],
  );
});

Deno.test("a fatal reading drains at once; the GPU comes back only after reading healthy for the whole recovery time", async () => {
  let now = 0;
  let next: HealthSnapshot = { readings: [reading(A, health()), reading(B, health())], problems: [] };
  const changes: UnitHealth[][] = [];
  const monitor = new GpuHealthMonitor({
    units: [{ id: A, uuid: A }, { id: B, uuid: B }],
    read: () => Promise.resolve(next),
    intervalMs: 1000,
    recoveryMs: 60_000,
    now: () => now,
    onChange: (u) => changes.push(u),
  });
  await monitor.check();
  assert.deepEqual(monitor.drained(), []);
  assert.equal(changes.length, 0, "nothing changed");

  next = {
    readings: [
      reading(A, health({ eccErrors: { correctedVolatile: 0, uncorrectedVolatile: 1 } })),
      reading(B, health()),
    ],
    problems: [],
  };
  now = 1000;
  await monitor.check();
  assert.deepEqual(monitor.drained(), [A]);
  assert.equal(changes.length, 1);
  assert.equal(monitor.units()[0].conditions[0].code, "uncorrected_ecc");

  // Healthy again, but not for long enough; a relapse restarts the clock.
  next = { readings: [reading(A, health()), reading(B, health())], problems: [] };
  now = 2000;
  await monitor.check();
  assert.deepEqual(monitor.drained(), [A]);
  now = 40_000;
  next = {
    readings: [reading(A, health({ throttle: { mask: "0x8", reasons: ["hw_slowdown"] } })), reading(B, health())],
    problems: [],
  };
  await monitor.check();
  next = { readings: [reading(A, health()), reading(B, health())], problems: [] };
  now = 41_000;
  await monitor.check();
  now = 100_000;
  await monitor.check();
  assert.deepEqual(monitor.drained(), [A], "59 s healthy since the relapse: not yet");
  now = 101_000;
  await monitor.check();
  assert.deepEqual(monitor.drained(), [], "60 s healthy: back");
  assert.equal(monitor.units()[0].healthy, true);
});

Deno.test("a GPU missing from the reading is lost (with nvidia-smi's words); a failed query drains every GPU but loses none", async () => {
  let now = 0;
  let next: HealthSnapshot | Error = {
    readings: [reading(B, health())],
    problems: [
      "Unable to determine the device handle for GPU0: 0000:24:00.0: GPU is lost.  Reboot the system to recover this GPU",
    ],
  };
  const monitor = new GpuHealthMonitor({
    units: [{ id: A, uuid: A }, { id: "MIG-1111", uuid: B }, { id: "MIG-2222", uuid: B }],
    read: () => next instanceof Error ? Promise.reject(next) : Promise.resolve(next),
    intervalMs: 1000,
    recoveryMs: 0,
    now: () => now,
  });
  await monitor.check();
  const [a, m1, m2] = monitor.units();
  assert.equal(a.lost, true);
  assert.equal(a.healthy, false);
  assert.match(
    a.conditions[0].message,
    /no reading for this GPU \(Unable to determine the device handle for GPU0: .*GPU is lost/,
  );
  assert.equal(m1.healthy && m2.healthy, true, "MIG instances share their parent's reading");

  next = new Error("nvidia-smi did not answer within 10000 ms");
  now = 1;
  await monitor.check();
  assert.deepEqual(monitor.drained(), [A, "MIG-1111", "MIG-2222"]);
  assert.ok(monitor.units().every((u) => !u.lost && u.conditions[0].code === "unreadable"));
});

Deno.test("the health output's CSV rows and nvidia-smi's per-GPU error lines are told apart", () => {
  // The error line as published (driver 5xx, Windows capture); the row is the h100-single fixture's.
  const lost =
    "Unable to determine the device handle for GPU0: 0000:24:00.0: GPU is lost.  Reboot the system to recover this GPU";
  const row = "0, GPU-00000000-0000-0000-0000-000000000000, 33, 0, 0, 0, 0x0000000000000001, 69.85, 700.00, Disabled";
  assert.deepEqual(splitHealthOutput(`${lost}\n${row}\n`), { csv: `${row}\n`, problems: [lost] });
  assert.deepEqual(splitHealthOutput(""), { csv: "", problems: [] });
});

Deno.test("readHealthSnapshot reads the GPUs nvidia-smi reaches and reports the one it cannot, exit code aside", async () => {
  // Two rows of the h100x8 fixture, the first replaced by the error line nvidia-smi prints for a lost GPU: its wording
  // as published in user reports (driver 5xx), with a bus id of this fixture's host in place of the reporter's.
  const rows = (await Deno.readTextFile(new URL("../../testdata/nvidia-smi/h100x8/health.csv", import.meta.url)))
    .split("\n").filter((l) => l.trim()).slice(0, 2);
  const lost =
    "Unable to determine the device handle for GPU0: 0000:18:00.0: GPU is lost.  Reboot the system to recover this GPU";
  const runner = { run: () => Promise.resolve({ code: 15, stdout: `${lost}\n${rows[1]}\n`, stderr: "" }) };
  const snap = await readHealthSnapshot({ runner });
  assert.deepEqual(snap.problems, [lost]);
  assert.deepEqual(snap.readings.map((r) => r.index), [1]);
  // Any other failure is the query's, not one GPU's.
  const broken = {
    run: () =>
      Promise.resolve({
        code: 9,
        stdout: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
        stderr: "",
      }),
  };
  await assert.rejects(readHealthSnapshot({ runner: broken }));
});

Deno.test("memory repair: pending remaps or retirements and a failed remap drain the GPU; [N/A] (MIG, GeForce) is no finding", async () => {
  const codes = (memory: GpuHealth["memory"]) => assessHealth(health({ memory })).map((c) => c.code);
  assert.deepEqual(codes({ retiredPagesPending: null, remappedRowsPending: false, remapFailure: false }), []);
  assert.deepEqual(codes({ retiredPagesPending: null, remappedRowsPending: null, remapFailure: null }), []);
  assert.deepEqual(codes({ retiredPagesPending: true, remappedRowsPending: true, remapFailure: true }), [
    "remap_failure",
    "pending_remap",
    "pending_retirement",
  ]);
  // The recorded rows, through the reader: the health query, then the memory query.
  const fixture = new URL("../../testdata/nvidia-smi/h100-single/", import.meta.url);
  const rows: Record<string, string> = {
    health: await Deno.readTextFile(new URL("health.csv", fixture)),
    memory: await Deno.readTextFile(new URL("memory.csv", fixture)),
  };
  const runner = {
    run: (args: string[]) =>
      Promise.resolve({ code: 0, stdout: args[0].includes("remapped_rows") ? rows.memory : rows.health, stderr: "" }),
  };
  const snap = await readHealthSnapshot({ runner });
  assert.deepEqual(snap.readings[0].health.memory, {
    retiredPagesPending: null,
    remappedRowsPending: false,
    remapFailure: false,
  });
  // A driver that rejects the fields: the memory state is unknown, the health reading stands.
  const old = {
    run: (args: string[]) =>
      Promise.resolve(
        args[0].includes("remapped_rows")
          ? { code: 2, stdout: 'Field "remapped_rows.pending" is not a valid field to query.\n', stderr: "" }
          : { code: 0, stdout: rows.health, stderr: "" },
      ),
  };
  const snapOld = await readHealthSnapshot({ runner: old });
  assert.equal(snapOld.readings[0].health.memory, undefined);
  assert.equal(snapOld.readings.length, 1);
});
