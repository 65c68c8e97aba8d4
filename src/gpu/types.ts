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
  /** Conditions an operator should look at (uncorrected ECC errors, thermal or hardware slowdown, MIG on). */
  warnings: string[];
}

/** One schedulable GPU. */
export interface GpuInfo {
  index: number;
  /** What the scheduler hands out and Docker receives in `DeviceIDs`: the GPU UUID, or `cpu-N` in CPU-only mode. */
  id: string;
  /** `GPU-…` UUID; empty in CPU-only mode. */
  uuid: string;
  name: string;
  memoryTotalMiB: number;
  pciBusId: string | null;
  driverVersion: string | null;
  cudaVersion: string | null;
  /** Health at detection time; `null` when the health query failed (see `GpuInventory.healthError`). */
  health: GpuHealth | null;
}

/** Every GPU of the host, or pseudo GPUs in CPU-only development mode. */
export interface GpuInventory {
  mode: "nvidia" | "cpu-only";
  driverVersion: string | null;
  cudaVersion: string | null;
  gpus: GpuInfo[];
  /** Why health readings are missing, when the health query failed but the inventory itself succeeded. */
  healthError?: string;
}

/** What the node registers on chain (`registerNode(gpuModel, vram)`, vram in MiB). */
export interface RegistrationSpec {
  gpuModel: string;
  vram: number;
}
