/** Variables of the gpu component. */
import { z } from "zod";
import { boolean, duration, integer, withDefault } from "../spec.ts";

/** GPU variables. */
export const gpuVars = {
  gpuRequired: withDefault({
    env: "GPU_REQUIRED",
    schema: boolean(),
    default: "true",
    example: "false",
    doc: "Refuse to start without an NVIDIA GPU. `false` turns a host without nvidia-smi or GPUs into a CPU-only " +
      "development node that registers as `CPU-only (development)` with vram 0.",
    group: "GPU",
  }),
  nvidiaSmiPath: withDefault({
    env: "NVIDIA_SMI_PATH",
    schema: z.string().trim().min(1, "must not be empty"),
    default: "nvidia-smi",
    example: "/usr/bin/nvidia-smi",
    doc: "The nvidia-smi executable: a name looked up on PATH, or an absolute path.",
    group: "GPU",
  }),
  nvidiaSmiTimeout: withDefault({
    env: "NVIDIA_SMI_TIMEOUT",
    schema: duration({ min: 100, max: 300_000 }),
    default: "10s",
    example: "30s",
    doc: "How long one nvidia-smi call may take before it is killed and reported as hung.",
    group: "GPU",
  }),
  cpuOnlySlots: withDefault({
    env: "CPU_ONLY_SLOTS",
    schema: integer(1, 64),
    default: "1",
    example: "2",
    doc: "CPU-only development mode (GPU_REQUIRED=false, no GPU found): the default of MAX_CONCURRENT_JOBS (jobs " +
      "running at once); jobs there take no GPU.",
    group: "GPU",
  }),
  gpuHealthInterval: withDefault({
    env: "GPU_HEALTH_INTERVAL",
    schema: duration({ min: 1000 }),
    default: "30s",
    example: "10s",
    doc: "How often GPU health is read from nvidia-smi; an unhealthy GPU gets no new job.",
    group: "GPU",
  }),
  gpuHealthRecovery: withDefault({
    env: "GPU_HEALTH_RECOVERY",
    schema: duration(),
    default: "5m",
    example: "15m",
    doc: "How long an unhealthy GPU must read healthy before it takes jobs again.",
    group: "GPU",
  }),
};
