/**
 * GPU health over time: reads every GPU's health at an interval, drains a GPU on a fatal condition (no new job gets
 * it), and gives it back only after it has read healthy for the whole recovery time, so a flapping GPU stays out.
 */
import type { Logger } from "../log/mod.ts";
import { type GpuHealthReading, type NvidiaSmiOptions, readGpuHealth } from "./detect.ts";
import { CommandNvidiaSmiRunner, type NvidiaSmiRunner } from "./runner.ts";
import { parseCsvRows } from "./csv.ts";
import { MEMORY_ARGS, MEMORY_FIELDS, memoryRow } from "./queries.ts";
import { assessHealth, type GpuCondition, lostCondition, unreadableCondition } from "./health_policy.ts";

/** One schedulable unit (a whole GPU, or a MIG instance) and the physical GPU whose health it shares. */
export interface HealthUnit {
  /** What the scheduler hands out (GPU UUID, or MIG UUID). */
  id: string;
  /** The physical GPU's UUID, as the health query reports it. */
  uuid: string;
}

/** One health query's result: the readings it parsed, and what it said about GPUs it could not read. */
export interface HealthSnapshot {
  readings: GpuHealthReading[];
  /** Lines of nvidia-smi that were not readings (`Unable to determine the device handle for GPU0: …: GPU is lost`). */
  problems: string[];
}

/** What the monitor knows about one unit. */
export interface UnitHealth {
  id: string;
  uuid: string;
  healthy: boolean;
  /** The current reading's conditions (fatal ones while unhealthy, warnings either way). */
  conditions: GpuCondition[];
  /** Whether the GPU was missing from the last reading (a running job on it cannot go on). */
  lost: boolean;
  /** When it last changed between healthy and unhealthy (ms). */
  since: number;
  /** While unhealthy: since when it has read healthy again (ms), if it has. */
  healthySince?: number;
  /** The last reading, if there was one. */
  reading?: GpuHealthReading["health"];
}

/** Options of {@linkcode GpuHealthMonitor}. */
export interface GpuHealthMonitorOptions {
  units: HealthUnit[];
  read: () => Promise<HealthSnapshot>;
  /** GPU_HEALTH_INTERVAL. */
  intervalMs: number;
  /** GPU_HEALTH_RECOVERY. */
  recoveryMs: number;
  logger?: Logger;
  now?: () => number;
  /** Called after a check that changed some unit's health, with every unit. */
  onChange?: (units: UnitHealth[]) => void;
}

/** Watches GPU health; see the module text. */
export class GpuHealthMonitor {
  #o: GpuHealthMonitorOptions;
  #now: () => number;
  #units = new Map<string, UnitHealth>();
  #timer?: ReturnType<typeof setTimeout>;
  #checking?: Promise<void>;
  #stopped = false;

  constructor(options: GpuHealthMonitorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const t = this.#now();
    for (const u of options.units) {
      this.#units.set(u.id, { id: u.id, uuid: u.uuid, healthy: true, conditions: [], lost: false, since: t });
    }
  }

  /** Checks now, then every interval until {@linkcode stop}. */
  start(): void {
    this.#stopped = false;
    const loop = () => {
      if (this.#stopped) return;
      this.check().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(loop, this.#o.intervalMs);
      });
    };
    loop();
  }

  /** Stops checking; waits for a check in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#checking;
  }

  /** Every unit's health. */
  units(): UnitHealth[] {
    return [...this.#units.values()].map((u) => ({ ...u, conditions: [...u.conditions] }));
  }

  /** Ids of the units that may not take new jobs. */
  drained(): string[] {
    return [...this.#units.values()].filter((u) => !u.healthy).map((u) => u.id);
  }

  /** Reads health once and updates every unit; never throws. One check at a time. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => this.#checking = undefined);
    return this.#checking;
  }

  async #check(): Promise<void> {
    let snapshot: HealthSnapshot | undefined;
    let failure: string | undefined;
    try {
      snapshot = await this.#o.read();
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    const byUuid = new Map((snapshot?.readings ?? []).map((r) => [r.uuid, r]));
    const now = this.#now();
    let changed = false;
    for (const unit of this.#units.values()) {
      const reading = byUuid.get(unit.uuid);
      let conditions: GpuCondition[];
      let lost = false;
      if (failure !== undefined) {
        conditions = [unreadableCondition(failure)];
      } else if (!reading) {
        lost = true;
        conditions = [lostCondition(snapshot!.problems.join("; ") || undefined)];
      } else {
        conditions = assessHealth(reading.health);
      }
      unit.reading = reading?.health ?? unit.reading;
      const fatal = conditions.some((c) => c.severity === "fatal");
      const before = JSON.stringify([unit.healthy, unit.conditions.map((c) => c.code), unit.lost]);
      unit.lost = lost;
      if (fatal) {
        if (unit.healthy) {
          unit.healthy = false;
          unit.since = now;
          this.#o.logger?.warn("GPU drained: it takes no new job until it reads healthy again", {
            gpu: unit.id,
            conditions: conditions.filter((c) => c.severity === "fatal").map((c) => `${c.code}: ${c.message}`),
          });
        }
        unit.healthySince = undefined;
        unit.conditions = conditions;
      } else if (!unit.healthy) {
        unit.healthySince ??= now;
        unit.conditions = conditions;
        if (now - unit.healthySince >= this.#o.recoveryMs) {
          unit.healthy = true;
          unit.since = now;
          unit.healthySince = undefined;
          this.#o.logger?.info("GPU healthy again: it takes jobs", { gpu: unit.id });
        }
      } else {
        for (const c of conditions) {
          if (!unit.conditions.some((o) => o.code === c.code)) {
            this.#o.logger?.warn(`GPU warning: ${c.message}`, { gpu: unit.id, condition: c.code });
          }
        }
        unit.conditions = conditions;
      }
      if (JSON.stringify([unit.healthy, unit.conditions.map((c) => c.code), unit.lost]) !== before) changed = true;
    }
    if (changed) this.#o.onChange?.(this.units());
  }
}

/**
 * Splits the health query's output into CSV lines and what nvidia-smi printed instead of a row for a GPU it could not
 * reach (`Unable to determine the device handle for GPU0: 0000:24:00.0: GPU is lost.  Reboot the system to recover
 * this GPU`): the rows are parsed as usual, the rest are reported.
 */
export function splitHealthOutput(stdout: string): { csv: string; problems: string[] } {
  const rows: string[] = [];
  const problems: string[] = [];
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    if (/^\s*\d+\s*,/.test(line)) rows.push(line);
    else problems.push(line.trim());
  }
  return { csv: rows.join("\n") + (rows.length ? "\n" : ""), problems };
}

/** nvidia-smi's words for a GPU it can no longer reach. */
const LOST_GPU = /Unable to determine the device handle|GPU is lost|fallen off the bus/i;

/**
 * One health query, tolerant of GPUs nvidia-smi cannot reach: their error lines become `problems` and the other GPUs'
 * rows are read as usual (nvidia-smi then exits non-zero). Throws when the query fails as a whole (hang, driver down).
 */
export async function readHealthSnapshot(options: NvidiaSmiOptions = {}): Promise<HealthSnapshot> {
  const inner = options.runner ??
    new CommandNvidiaSmiRunner({ path: options.nvidiaSmiPath, timeoutMs: options.timeoutMs, env: options.env });
  const problems: string[] = [];
  const runner: NvidiaSmiRunner = {
    async run(args, o) {
      const out = await inner.run(args, o);
      const split = splitHealthOutput(out.stdout);
      const lostOnly = split.problems.length > 0 && split.problems.every((p) => LOST_GPU.test(p));
      if (!lostOnly) return out;
      problems.push(...split.problems);
      return { ...out, code: 0, stdout: split.csv };
    },
  };
  const readings = await readGpuHealth({ ...options, runner });
  const memory = await readMemoryRepair(inner, options.signal);
  for (const r of readings) {
    const m = memory.get(r.uuid);
    if (m) r.health.memory = m;
  }
  return { readings, problems };
}

/**
 * The memory repair query; an empty map when it fails (a driver without these fields, or a GPU it cannot reach:
 * the health query has said that already).
 */
async function readMemoryRepair(
  runner: NvidiaSmiRunner,
  signal?: AbortSignal,
): Promise<Map<string, NonNullable<GpuHealthReading["health"]["memory"]>>> {
  const out = new Map<string, NonNullable<GpuHealthReading["health"]["memory"]>>();
  try {
    const res = await runner.run([...MEMORY_ARGS], { signal });
    const { csv } = splitHealthOutput(res.stdout);
    if (res.code !== 0 && csv === "") return out;
    for (const row of parseCsvRows(csv, MEMORY_FIELDS.length)) {
      const parsed = memoryRow.safeParse(row);
      if (!parsed.success) continue;
      const [, uuid, retiredPagesPending, remappedRowsPending, remapFailure] = parsed.data;
      out.set(uuid, { retiredPagesPending, remappedRowsPending, remapFailure });
    }
  } catch {
    // An unknown memory state is no finding; a cancelled check is the caller's.
    signal?.throwIfAborted();
  }
  return out;
}
