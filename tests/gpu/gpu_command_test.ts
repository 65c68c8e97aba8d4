/** The `gpu` command against recorded nvidia-smi outputs: table and --json. */
import assert from "node:assert/strict";
import type { CommandContext } from "../../src/command.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { gpuCommand } from "../../src/gpu/mod.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { fakeNvidiaSmi } from "./fake_nvidia_smi.ts";

async function runGpu(env: Record<string, string>, json: boolean) {
  const out: string[] = [];
  const writer = new MemoryWriter();
  const ctx: CommandContext = {
    args: [],
    options: { json },
    loaded: loadConfig({ env }),
    logger: new Logger({ writer, level: "debug" }),
    print: (line) => out.push(line),
    signal: new AbortController().signal,
  };
  const code = await gpuCommand.run(ctx);
  return { code, out, records: writer.records };
}

Deno.test("gpu prints the 8-GPU host as a table with what the node registers", async () => {
  await using fake = await fakeNvidiaSmi("h100x8");
  const { code, out } = await runGpu({ NVIDIA_SMI_PATH: fake.path }, false);
  assert.equal(code, 0);
  assert.equal(out[0], "driver 565.57.01, CUDA 12.7, 8 GPU(s)");
  assert.match(out[1], /^IDX\s+ID\s+NAME\s+MEMORY\s+BUS\s+TEMP\s+UTIL\s+POWER\s+ECC\(UNC\)\s+MIG\s+THROTTLE$/);
  const rows = out.slice(2, 10);
  assert.equal(rows.length, 8);
  assert.match(
    rows[0],
    /^0\s+GPU-b42dd28e-ffdd-8720-1df0-98bd8cdc05b1\s+NVIDIA H100 80GB HBM3\s+81559 MiB\s+00000000:18:00\.0\s+30C\s+0%\s+100\.89\/700W\s+0\s+Disabled\s+none$/,
  );
  assert.match(rows[7], /^7\s+GPU-33135771-a848-ece1-b61e-489e221d663c\s/);
  assert.equal(out.at(-1), 'registers as: gpuModel="8x NVIDIA H100 80GB HBM3" vram=81559 MiB');
});

Deno.test("gpu --json prints the inventory and the registration spec", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig");
  const { code, out } = await runGpu({ NVIDIA_SMI_PATH: fake.path }, true);
  assert.equal(code, 0);
  const doc = JSON.parse(out.join("\n"));
  assert.equal(doc.mode, "nvidia");
  assert.equal(doc.cudaVersion, "13.1");
  assert.equal(doc.gpus.length, 4);
  assert.equal(doc.gpus[0].id, "MIG-00000000-0000-0000-0000-000000000000");
  assert.equal(doc.gpus[0].mig.profile, "3g.40gb");
  assert.equal(doc.gpus[0].health.migMode, "Enabled");
  assert.equal(doc.gpus[0].health.utilizationPercent, null);
  assert.deepEqual(doc.registration, {
    gpuModel: "2x NVIDIA H100 80GB HBM3 MIG 1g.10gb + 1x NVIDIA H100 80GB HBM3 MIG 2g.20gb + " +
      "1x NVIDIA H100 80GB HBM3 MIG 3g.40gb",
    vram: 9984,
  });
});

Deno.test("gpu table lists MIG instances by MIG UUID with their memory, N/A readings as dashes", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig");
  const { out, records } = await runGpu({ NVIDIA_SMI_PATH: fake.path }, false);
  assert.equal(out[0], "driver 590.48.01, CUDA 13.1, 4 MIG instance(s) on 1 GPU(s)");
  assert.match(
    out[2],
    /^0\s+MIG-0{8}-0{4}-0{4}-0{4}-0{12}\s+NVIDIA H100 80GB HBM3 MIG 3g\.40gb\s+40448 MiB\s+00000000:00:09\.0\s+42C\s+-\s+71\.15\/700W\s+0\s+Enabled/,
  );
  assert.match(
    out[5],
    /^0\s+MIG-00000003-0000-0000-0000-000000000003\s+NVIDIA H100 80GB HBM3 MIG 1g\.10gb\s+9984 MiB\s/,
  );
  assert.ok(!out.some((l) => l.startsWith("warning:")), out.join("\n"));
  assert.ok(!records.some((r) => r.level === "warn"), "MIG mode is no longer a warning");
});

Deno.test("gpu marks MIG sizes read from profile names with ~", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig", { withhold: ["table.txt"] });
  const { out } = await runGpu({ NVIDIA_SMI_PATH: fake.path }, false);
  assert.match(out[2], /NVIDIA H100 80GB HBM3 MIG 3g\.40gb\s+~40960 MiB\s/);
  assert.equal(
    out.at(-1),
    'registers as: gpuModel="2x NVIDIA H100 80GB HBM3 MIG 1g.10gb + 1x NVIDIA H100 80GB HBM3 MIG 2g.20gb + 1x NVIDIA H100 80GB HBM3 MIG 3g.40gb" vram=10240 MiB',
  );
});

Deno.test("gpu on a MIG host whose nvidia-smi -L fails says why and exits 1", async () => {
  await using fake = await fakeNvidiaSmi("h100-mig", { withhold: ["list.txt"] });
  const { code, out } = await runGpu({ NVIDIA_SMI_PATH: fake.path }, false);
  assert.equal(code, 1);
  assert.match(
    out[0],
    /^error: No GPU can take jobs: GPU 0 \(NVIDIA H100 80GB HBM3\): it is in MIG mode and its MIG instances cannot be listed/,
  );
});

Deno.test("gpu with a driver mismatch prints the fix and exits 1", async () => {
  await using fake = await fakeNvidiaSmi("driver-mismatch");
  const table = await runGpu({ NVIDIA_SMI_PATH: fake.path }, false);
  assert.equal(table.code, 1);
  assert.match(table.out[0], /^error: nvidia-smi failed: .*Driver\/library version mismatch/);
  const json = await runGpu({ NVIDIA_SMI_PATH: fake.path }, true);
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.out.join("\n")).error.kind, "driver_mismatch");
});

Deno.test("gpu on a host without nvidia-smi and GPU_REQUIRED=false lists CPU-only pseudo GPUs", async () => {
  const { code, out } = await runGpu(
    { NVIDIA_SMI_PATH: "/nonexistent/nvidia-smi", GPU_REQUIRED: "false", CPU_ONLY_SLOTS: "2" },
    false,
  );
  assert.equal(code, 0);
  assert.equal(out[0], "CPU-only development mode: 2 pseudo GPU(s)");
  assert.match(out[2], /^0\s+cpu-0\s+CPU-only\s/);
  assert.match(out[3], /^1\s+cpu-1\s+CPU-only\s/);
  assert.equal(out.at(-1), 'registers as: gpuModel="CPU-only (development)" vram=0 MiB');
});

Deno.test("gpu on a host without nvidia-smi (GPU_REQUIRED default) prints the exact not-found message", async () => {
  const { code, out } = await runGpu({ NVIDIA_SMI_PATH: "/nonexistent/nvidia-smi" }, false);
  assert.equal(code, 1);
  assert.equal(
    out[0],
    "error: nvidia-smi not found: install the NVIDIA driver, or set GPU_REQUIRED=false for a CPU-only development node",
  );
});
