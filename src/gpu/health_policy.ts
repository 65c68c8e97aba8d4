/**
 * Which GPU readings make a GPU unfit for new jobs. The rules follow NVIDIA's guidance: an uncorrectable (double-bit)
 * ECC error means the memory may hold corrupt data until the GPU is reset (Xid 48; the NVIDIA device plugin marks
 * such a GPU unhealthy); memory pages pending retirement or rows pending remapping mean the repair waits for a reset,
 * and a failed remap means the GPU needs service; a hardware slowdown (HW slowdown, HW thermal slowdown, HW power brake) means the GPU runs far
 * below its clocks; a GPU that nvidia-smi cannot reach has fallen off the bus (Xid 79, "GPU is lost"). Those drain the
 * GPU. Software thermal slowdown and a hot GPU are warnings only: the driver is protecting a working GPU.
 */
import type { GpuHealth } from "./types.ts";

/** How bad a condition is: `fatal` drains the GPU, `warning` is only reported. */
export type Severity = "fatal" | "warning";

/** One finding about one GPU. */
export interface GpuCondition {
  severity: Severity;
  /** Stable name: `uncorrected_ecc`, `hw_slowdown`, `hw_thermal_slowdown`, `hw_power_brake`, `lost`, `unreadable`, `sw_thermal_slowdown`, `hot`. */
  code: string;
  message: string;
}

/** Temperature above which a GPU is reported hot (°C). */
export const HOT_GPU_C = 85;

/** The conditions one health reading shows; empty for a healthy GPU. */
export function assessHealth(health: GpuHealth): GpuCondition[] {
  const out: GpuCondition[] = [];
  const uncorrected = health.eccErrors.uncorrectedVolatile;
  if (uncorrected !== null && uncorrected > 0) {
    out.push({
      severity: "fatal",
      code: "uncorrected_ecc",
      message:
        `${uncorrected} uncorrected ECC error(s) since the driver loaded: reset the GPU (nvidia-smi -r) or reboot`,
    });
  }
  const memory = health.memory;
  if (memory?.remapFailure) {
    out.push({
      severity: "fatal",
      code: "remap_failure",
      message: "a memory row could not be remapped: the GPU needs service (RMA)",
    });
  }
  if (memory?.remappedRowsPending) {
    out.push({
      severity: "fatal",
      code: "pending_remap",
      message: "memory rows are pending remapping: reset the GPU (nvidia-smi -r) or reboot to complete it",
    });
  }
  if (memory?.retiredPagesPending) {
    out.push({
      severity: "fatal",
      code: "pending_retirement",
      message: "memory pages are pending retirement: reboot to retire them",
    });
  }
  const reasons = health.throttle.reasons;
  if (reasons.includes("hw_slowdown")) {
    out.push({
      severity: "fatal",
      code: "hw_slowdown",
      message: "hardware slowdown is active: check power and cooling",
    });
  }
  if (reasons.includes("hw_thermal_slowdown")) {
    out.push({
      severity: "fatal",
      code: "hw_thermal_slowdown",
      message: "hardware thermal slowdown is active: the GPU is overheating, check its cooling",
    });
  }
  if (reasons.includes("hw_power_brake_slowdown")) {
    out.push({
      severity: "fatal",
      code: "hw_power_brake",
      message: "the power brake is active (external power signal): check the power supply",
    });
  }
  if (reasons.includes("sw_thermal_slowdown")) {
    out.push({
      severity: "warning",
      code: "sw_thermal_slowdown",
      message: "software thermal slowdown is active: clocks are lowered to keep the GPU cool",
    });
  }
  if (health.temperatureC !== null && health.temperatureC > HOT_GPU_C) {
    out.push({ severity: "warning", code: "hot", message: `the GPU is at ${health.temperatureC} °C` });
  }
  return out;
}

/** The condition of a GPU the health query did not report while it answered for others. */
export function lostCondition(detail?: string): GpuCondition {
  return {
    severity: "fatal",
    code: "lost",
    message: `nvidia-smi has no reading for this GPU${detail ? ` (${detail})` : ""}: it may have fallen off the bus; ` +
      "reboot the host to recover it",
  };
}

/** The condition of every GPU when the health query itself failed or hung. */
export function unreadableCondition(detail: string): GpuCondition {
  return { severity: "fatal", code: "unreadable", message: `GPU health cannot be read: ${detail}` };
}
