/** GPU inventory: nvidia-smi detection, health readings, the on-chain registration spec and the `gpu` command. */
export { cpuOnlyInventory, detectGpus, readGpuHealth } from "./detect.ts";
export type { DetectOptions, GpuHealthReading, NvidiaSmiOptions } from "./detect.ts";
export { classifyFailure, GpuError, NOT_FOUND_MESSAGE } from "./errors.ts";
export type { GpuErrorKind } from "./errors.ts";
export { CPU_ONLY_MODEL, registrationSpec } from "./registration.ts";
export { CommandNvidiaSmiRunner } from "./runner.ts";
export type { CommandRunnerOptions, NvidiaSmiOutput, NvidiaSmiRunner } from "./runner.ts";
export { formatInventoryTable, gpuCommand, gpuOptionsFromConfig } from "./command.ts";
export { HEALTH_ARGS, IDENTITY_ARGS, LIST_ARGS, SUMMARY_ARGS } from "./queries.ts";
export { describeUnschedulable, expandMig, parseGpuList, parseMigTable, profileMemoryMiB } from "./mig.ts";
export type { GpuListing, ListedGpu, ListedMig, MigExpansion, TableMig } from "./mig.ts";
export type {
  GpuHealth,
  GpuInfo,
  GpuInventory,
  MigInstance,
  RegistrationSpec,
  ThrottleReason,
  UnschedulableGpu,
} from "./types.ts";
export { GpuHealthMonitor, readHealthSnapshot, splitHealthOutput } from "./health_monitor.ts";
export type { HealthSnapshot, HealthUnit, UnitHealth } from "./health_monitor.ts";
export { assessHealth, HOT_GPU_C } from "./health_policy.ts";
export type { GpuCondition } from "./health_policy.ts";
