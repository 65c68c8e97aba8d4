/** What the node registers on chain, derived from the inventory. */
import type { GpuInventory, RegistrationSpec } from "./types.ts";

/** The model string a CPU-only development node registers. */
export const CPU_ONLY_MODEL = "CPU-only (development)";

/**
 * `gpuModel`: the GPU name, `<count>x <name>` for several identical GPUs, groups joined with ` + ` when mixed (largest
 * group first, then by name, so the string does not depend on enumeration order). `vram`: MiB of the smallest GPU —
 * what one job can count on. CPU-only: {@linkcode CPU_ONLY_MODEL} and 0.
 */
export function registrationSpec(inventory: GpuInventory): RegistrationSpec {
  if (inventory.mode === "cpu-only") return { gpuModel: CPU_ONLY_MODEL, vram: 0 };
  if (inventory.gpus.length === 0) throw new RangeError("Cannot register an inventory without GPUs");
  const counts = new Map<string, number>();
  for (const gpu of inventory.gpus) counts.set(gpu.name, (counts.get(gpu.name) ?? 0) + 1);
  const groups = [...counts].sort(([a, n], [b, m]) => m - n || (a < b ? -1 : a > b ? 1 : 0));
  const gpuModel = groups.length === 1 && groups[0][1] === 1
    ? groups[0][0]
    : groups.map(([name, n]) => `${n}x ${name}`).join(" + ");
  const vram = Math.min(...inventory.gpus.map((g) => g.memoryTotalMiB));
  return { gpuModel, vram };
}
