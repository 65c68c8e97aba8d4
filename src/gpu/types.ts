/** The shapes the GPU component hands to the rest of the agent. */

/** Clock throttle (event) reasons, as named by NVML. */
export type ThrottleReason =
  | "gpu_idle"
  | "applications_clocks_setting"
  | "sw_power_cap"
  | "hw_slowdown"
  | "sync_boost"
  | "sw_thermal_slowdown"
  | "hw_thermal_slowdown"
  | "hw_power_brake_slowdown"
  | "display_clock_setting";

/** One GPU's health readings. `null` means nvidia-smi reported the value as unavailable (`[N/A]`, `[Not Supported]`). */
export interface GpuHealth {
  temperatureC: number | null;
  utilizationPercent: number | null;
  eccErrors: { correctedVolatile: number | null; uncorrectedVolatile: number | null };
  throttle: { mask: string | null; reasons: ThrottleReason[] };
  powerDrawW: number | null;
  powerLimitW: number | null;
  migMode: "Enabled" | "Disabled" | null;
  /** Memory repair state (a separate query; absent when it was not read): `null` where the GPU does not track it. */
  memory?: { retiredPagesPending: boolean | null; remappedRowsPending: boolean | null; remapFailure: boolean | null };
  /** Conditions an operator should look at (uncorrected ECC errors, thermal or hardware slowdown). */
  warnings: string[];
}

/** What makes a schedulable unit a MIG instance: where it lives on its GPU and how its memory is known. */
export interface MigInstance {
  /** The MIG profile `nvidia-smi -L` names: `3g.40gb`, `1g.10gb`, or `1c.3g.71gb` for one of several compute instances. */
  profile: string;
  /** Its `MIG Dev` index on the GPU (`Device 0` in `nvidia-smi -L`). */
  device: number;
  /** GPU instance and compute instance ids from the summary table; `null` when the table did not list the instance. */
  gpuInstanceId: number | null;
  computeInstanceId: number | null;
  /** The physical GPU's name and `memory.total` (the unit's `name` adds ` MIG <profile>`). */
  gpuName: string;
  gpuMemoryTotalMiB: number;
  /**
   * Where `memoryTotalMiB` comes from: `table` = exact MiB from the summary table's "MIG devices" section; `profile` =
   * the profile name's GB × 1024 (approximate, above the real size). Compute instances of one GPU instance share its
   * memory: each reports the whole of it.
   */
  memorySource: "table" | "profile";
}

/** One schedulable unit: a whole GPU, a MIG instance, or a CPU-only pseudo GPU. */
export interface GpuInfo {
  /** nvidia-smi's index of the physical GPU (for a MIG instance, of its GPU). */
  index: number;
  /**
   * What the scheduler hands out and Docker receives in `DeviceIDs`: the GPU UUID, the MIG UUID (`MIG-…`) for a MIG
   * instance, or `cpu-N` in CPU-only mode.
   */
  id: string;
  /** The physical GPU's `GPU-…` UUID (for a MIG instance, its GPU's: the key of health readings); empty in CPU-only mode. */
  uuid: string;
  /** The GPU name; `<GPU name> MIG <profile>` for a MIG instance (`NVIDIA H100 80GB HBM3 MIG 3g.40gb`). */
  name: string;
  /** The unit's memory: the GPU's `memory.total`, or the MIG instance's size (see {@linkcode MigInstance.memorySource}). */
  memoryTotalMiB: number;
  pciBusId: string | null;
  driverVersion: string | null;
  cudaVersion: string | null;
  /**
   * Health at detection time (a MIG instance carries its GPU's reading); `null` when the health query failed (see
   * `GpuInventory.healthError`).
   */
  health: GpuHealth | null;
  /** Present only on a MIG instance. */
  mig?: MigInstance;
}

/**
 * A GPU detected but offered to no job, and why: a MIG GPU without instances or whose instances cannot be listed; or,
 * with `id`, one MIG instance of it.
 */
export interface UnschedulableGpu {
  index: number;
  /** The physical GPU's UUID. */
  uuid: string;
  /** The MIG UUID, when only that instance is left out. */
  id?: string;
  name: string;
  reason: string;
}

/** Every schedulable unit of the host, or pseudo GPUs in CPU-only development mode. */
export interface GpuInventory {
  mode: "nvidia" | "cpu-only";
  driverVersion: string | null;
  cudaVersion: string | null;
  /** Whole GPUs and MIG instances, in nvidia-smi's order (a MIG GPU's instances by device index, where it stands). */
  gpus: GpuInfo[];
  /** Why health readings are missing, when the health query failed but the inventory itself succeeded. */
  healthError?: string;
  /** GPUs detected but not offered to jobs; present only when there are some. */
  unschedulable?: UnschedulableGpu[];
}

/** What the node registers on chain (`registerNode(gpuModel, vram)`, vram in MiB). */
export interface RegistrationSpec {
  gpuModel: string;
  vram: number;
}
