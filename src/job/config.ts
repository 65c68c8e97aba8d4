/** Maps the validated configuration to the job runner's and scheduler's options. */
import type { Config } from "../config/mod.ts";
import type { JobRunnerOptions } from "./runner.ts";
import type { SpecChecks } from "./schema.ts";
import type { SchedulerOptions } from "./scheduler.ts";

/** Runner options from config; the agent adds its address, the Docker checks and the terminal-status hook. */
export function runnerOptionsFromConfig(
  config: Config,
  agentAddress: string,
  checks: SpecChecks,
  extra: Pick<JobRunnerOptions, "onTerminal"> = {},
): JobRunnerOptions {
  return {
    agentAddress,
    checks,
    maxMessageBytes: config.jobMaxMessageSize,
    signers: config.jobSigners ?? [],
    // Aborted jobs' containers get JOB_STOP_GRACE before SIGKILL, then are removed: wait for that on shutdown.
    abortWaitMs: config.jobStopGrace + 10_000,
    // Progress acks keep held JetStream messages from being redelivered while their job runs or its status waits.
    workingIntervalMs: config.jobIntake === "jetstream" ? Math.max(250, Math.floor(config.jobAckWait / 3)) : 0,
    retentionMs: config.journalRetention,
    ...extra,
  };
}

/**
 * Scheduler options: GPUs by UUID (none on a CPU-only node: its jobs take no GPU), and `MAX_CONCURRENT_JOBS` slots
 * in every mode — by default one per GPU, or `CPU_ONLY_SLOTS` on a CPU-only node.
 */
export function schedulerOptionsFromConfig(
  config: Config,
  inventory: { mode: string; gpus: { id: string }[] },
): SchedulerOptions {
  const cpuOnly = inventory.mode === "cpu-only";
  const gpuUuids = cpuOnly ? [] : inventory.gpus.map((g) => g.id);
  return {
    gpuUuids,
    maxConcurrent: config.maxConcurrentJobs ?? (cpuOnly ? config.cpuOnlySlots : Math.max(1, gpuUuids.length)),
    queueSize: config.jobQueueSize,
  };
}
