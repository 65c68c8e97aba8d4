/** What the node registers on chain, derived from the inventory. */
import type { GpuInventory, RegistrationSpec } from "./types.ts";

/** The model string a CPU-only development node registers. */
export const CPU_ONLY_MODEL = "CPU-only (development)";

/**
 * Counts schedulable units — whole GPUs and MIG instances alike — by their name. `gpuModel`: the name of a single
 * unit, `<count>x <name>` for several identical ones, groups joined with ` + ` when mixed (largest group first, then by
 * name, so the string does not depend on enumeration order). A MIG instance's name is `<GPU name> MIG <profile>`, so a
 * MIG GPU registers its instances (`2x NVIDIA H100 80GB HBM3 MIG 1g.10gb + …`). `vram`: MiB of the smallest unit —
 * what one job can count on (for a MIG instance its own memory, not its GPU's). CPU-only: {@linkcode CPU_ONLY_MODEL}
 * and 0.
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
