/** The `gpu` CLI command: prints the inventory as a table or JSON. */
import type { Command } from "../command.ts";
import type { Config } from "../config/mod.ts";
import type { DetectOptions } from "./detect.ts";
import { detectGpus } from "./detect.ts";
import { GpuError } from "./errors.ts";
import { describeUnschedulable } from "./mig.ts";
import { registrationSpec } from "./registration.ts";
import type { GpuInfo, GpuInventory } from "./types.ts";

/** The detection options the configuration sets. */
export function gpuOptionsFromConfig(config: Config): DetectOptions {
  return {
    required: config.gpuRequired,
    nvidiaSmiPath: config.nvidiaSmiPath,
    timeoutMs: config.nvidiaSmiTimeout,
    cpuOnlySlots: config.cpuOnlySlots,
  };
}

/** Renders the inventory as an aligned text table followed by what the node registers. */
export function formatInventoryTable(inventory: GpuInventory): string[] {
  const spec = registrationSpec(inventory);
  const lines: string[] = [];
  if (inventory.mode === "cpu-only") {
    lines.push(`CPU-only development mode: ${inventory.gpus.length} pseudo GPU(s)`);
  } else {
    const mig = inventory.gpus.filter((g) => g.mig);
    const whole = inventory.gpus.length - mig.length;
    const migGpus = new Set(mig.map((g) => `${g.index}:${g.uuid}`)).size;
    const units = mig.length === 0 ? `${whole} GPU(s)` : [
      ...(whole ? [`${whole} whole GPU(s)`] : []),
      `${mig.length} MIG instance(s) on ${migGpus} GPU(s)`,
    ].join(" + ");
    lines.push(`driver ${inventory.driverVersion ?? "unknown"}, CUDA ${inventory.cudaVersion ?? "unknown"}, ${units}`);
  }
  const header = ["IDX", "ID", "NAME", "MEMORY", "BUS", "TEMP", "UTIL", "POWER", "ECC(UNC)", "MIG", "THROTTLE"];
  const rows = inventory.gpus.map((g) => row(g));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  lines.push(fmt(header), ...rows.map(fmt));
  if (inventory.healthError) lines.push(`health unavailable: ${inventory.healthError}`);
  // A MIG instance shares its GPU's reading: each GPU's warnings once.
  const warned = new Set<string>();
  for (const g of inventory.gpus) {
    const key = `${g.index}:${g.uuid}`;
    if (warned.has(key)) continue;
    warned.add(key);
    for (const w of g.health?.warnings ?? []) lines.push(`warning: ${w}`);
  }
  for (const u of inventory.unschedulable ?? []) {
    lines.push(`warning: ${describeUnschedulable(u)} takes no job: ${u.reason}`);
  }
  lines.push(`registers as: gpuModel="${spec.gpuModel}" vram=${spec.vram} MiB`);
  return lines;
}

function row(g: GpuInfo): string[] {
  const h = g.health;
  const num = (v: number | null | undefined, unit: string) => (v === null || v === undefined ? "-" : `${v}${unit}`);
  const power = h && (h.powerDrawW !== null || h.powerLimitW !== null)
    ? `${num(h.powerDrawW, "")}/${num(h.powerLimitW, "W")}`
    : "-";
  const throttle = h?.throttle.reasons.filter((r) => r !== "gpu_idle").join(",") || (h ? "none" : "-");
  return [
    String(g.index),
    g.id,
    g.name,
    // `~`: a MIG instance's size read from its profile name, not measured.
    g.memoryTotalMiB ? `${g.mig?.memorySource === "profile" ? "~" : ""}${g.memoryTotalMiB} MiB` : "-",
    g.pciBusId ?? "-",
    num(h?.temperatureC, "C"),
    num(h?.utilizationPercent, "%"),
    power,
    num(h?.eccErrors.uncorrectedVolatile, ""),
    h?.migMode ?? "-",
    throttle,
  ];
}

/** `gpu`: detects the GPUs and prints them with what the node would register. */
export const gpuCommand: Command = {
  name: "gpu",
  summary: "print the GPU inventory (table, or JSON with --json) and what the node registers",
  description: "Runs nvidia-smi (NVIDIA_SMI_PATH, NVIDIA_SMI_TIMEOUT) and prints every GPU with its health. " +
    "With GPU_REQUIRED=false a host without GPUs shows its CPU-only pseudo GPUs. Exit code 1 when detection fails.",
  options: { json: { type: "boolean", description: "print JSON" } },
  async run(ctx) {
    let inventory: GpuInventory;
    try {
      inventory = await detectGpus({
        ...gpuOptionsFromConfig(ctx.loaded.config),
        signal: ctx.signal,
        logger: ctx.logger,
      });
    } catch (err) {
      // A sandbox refusal goes to the CLI, which names NVIDIA_SMI_PATH and the flags command (exit 78).
      if (!(err instanceof GpuError) || err.cause instanceof Deno.errors.NotCapable) throw err;
      if (ctx.options.json) ctx.print(JSON.stringify({ error: { kind: err.kind, message: err.message } }, null, 2));
      else ctx.print(`error: ${err.message}`);
      return 1;
    }
    if (ctx.options.json) {
      ctx.print(JSON.stringify({ ...inventory, registration: registrationSpec(inventory) }, null, 2));
    } else {
      for (const line of formatInventoryTable(inventory)) ctx.print(line);
    }
    return 0;
  },
};
