/**
 * MIG: reading `nvidia-smi -L` (the instances and their `MIG-…` UUIDs), the summary table's "MIG devices" section (their
 * exact memory), and turning a MIG-enabled GPU into one schedulable unit per instance.
 */
import type { GpuInfo, MigInstance, UnschedulableGpu } from "./types.ts";

/** One MIG instance as `nvidia-smi -L` lists it. */
export interface ListedMig {
  profile: string;
  device: number;
  uuid: string;
}

/** One GPU as `nvidia-smi -L` lists it, with its MIG instances (none when MIG is off or no instance exists). */
export interface ListedGpu {
  index: number;
  name: string;
  uuid: string;
  mig: ListedMig[];
}

/** One row of the summary table's "MIG devices" section. */
export interface TableMig {
  gpu: number;
  gpuInstanceId: number;
  computeInstanceId: number;
  device: number;
  memoryTotalMiB: number;
}

// `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)`; the name may hold spaces, parentheses and dashes.
const GPU_LINE = /^GPU\s+(\d+)\s*:\s*(.+?)\s*\(UUID:\s*(GPU-[0-9A-Fa-f-]+)\s*\)$/;
// `MIG 3g.40gb     Device  0: (UUID: MIG-…)`: padding varies with the profile's length. Drivers before R470 printed
// `MIG-GPU-<uuid>/<gi>/<ci>`, hence `/` in the UUID.
const MIG_LINE = /^MIG\s+(\S+)\s+Device\s+(\d+)\s*:\s*\(UUID:\s*(MIG-[0-9A-Za-z/-]+)\s*\)$/;

/**
 * Parses `nvidia-smi -L`. Blank and unknown lines are skipped; a `GPU …` or `MIG …` line that does not parse, or a MIG
 * line before any GPU line, throws a `SyntaxError` naming the line, so an instance is never silently lost.
 */
export function parseGpuList(output: string): ListedGpu[] {
  const gpus: ListedGpu[] = [];
  output.replace(/\r/g, "").split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (/^GPU\b/.test(line)) {
      const m = GPU_LINE.exec(line);
      if (!m) {
        throw new SyntaxError(`Cannot parse nvidia-smi -L line ${i + 1}: expected "GPU <n>: <name> (UUID: GPU-…)"`);
      }
      gpus.push({ index: Number(m[1]), name: m[2], uuid: m[3], mig: [] });
    } else if (/^MIG\b/.test(line)) {
      const m = MIG_LINE.exec(line);
      if (!m) {
        throw new SyntaxError(
          `Cannot parse nvidia-smi -L line ${i + 1}: expected "MIG <profile> Device <n>: (UUID: MIG-…)"`,
        );
      }
      const gpu = gpus.at(-1);
      if (!gpu) throw new SyntaxError(`Cannot parse nvidia-smi -L line ${i + 1}: a MIG device before any GPU`);
      gpu.mig.push({ profile: m[1], device: Number(m[2]), uuid: m[3] });
    }
  });
  if (gpus.length === 0) throw new SyntaxError("Cannot parse nvidia-smi -L: no GPU line");
  return gpus;
}

// `|  0    2   0   0  |              26MiB / 40448MiB    | 60      0 | …`: GPU, GI, CI, MIG Dev, used / total.
const TABLE_ROW = /^\|\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\|\s*\S+\s*\/\s*(\d+)\s*MiB\s*\|/;

/**
 * The rows of the summary table's "MIG devices" section, keyed `<GPU index>:<MIG Dev>` ({@linkcode tableKey}). Empty
 * when the table has no such section or it does not parse; the second line of each entry (BAR1) is not a row.
 */
export function parseMigTable(summary: string): Map<string, TableMig> {
  const rows = new Map<string, TableMig>();
  let inSection = false;
  for (const line of summary.replace(/\r/g, "").split("\n")) {
    if (/^\|\s*MIG devices:/.test(line)) inSection = true;
    else if (/^\|\s*Processes:/.test(line)) inSection = false;
    else if (inSection) {
      const m = TABLE_ROW.exec(line);
      if (!m) continue;
      const [gpu, gpuInstanceId, computeInstanceId, device, memoryTotalMiB] = m.slice(1).map(Number);
      rows.set(tableKey(gpu, device), { gpu, gpuInstanceId, computeInstanceId, device, memoryTotalMiB });
    }
  }
  return rows;
}

/** The key of {@linkcode parseMigTable}'s map. */
export function tableKey(gpu: number, device: number): string {
  return `${gpu}:${device}`;
}

/**
 * A MIG instance's memory from its profile name: the `<n>gb` part × 1024 MiB (`3g.40gb` → 40960, `1c.3g.71gb` → 72704).
 * Approximate, and above the real size (H100 3g.40gb: 40448 MiB; H200 1g.18gb: 16384 MiB). `null` without a `<n>gb`
 * part.
 */
export function profileMemoryMiB(profile: string): number | null {
  const m = /(?:^|\.)(\d+)gb(?=$|[+\-.])/i.exec(profile);
  return m ? Number(m[1]) * 1024 : null;
}

/** `GPU 0 (NVIDIA H100 80GB HBM3)`, or `NVIDIA H100 80GB HBM3 MIG 1g.10gb MIG-… on GPU 0` for one instance. */
export function describeUnschedulable(u: UnschedulableGpu): string {
  return u.id ? `${u.name} ${u.id} on GPU ${u.index}` : `GPU ${u.index} (${u.name})`;
}

/** What `nvidia-smi -L` answered: its GPUs, or why it could not be read. */
export type GpuListing = { gpus: ListedGpu[] } | { error: string };

/** {@linkcode expandMig}'s result. */
export interface MigExpansion {
  /** Whole GPUs as they were, each MIG GPU replaced by its instances. */
  gpus: GpuInfo[];
  unschedulable: UnschedulableGpu[];
  /** Instances whose memory came from the profile name (for a log line). */
  approximate: { gpu: number; id: string; profile: string; memoryTotalMiB: number }[];
}

/**
 * Replaces every MIG GPU by one unit per MIG instance. A GPU is a MIG GPU when its health says `mig.mode.current`
 * Enabled, or, with MIG mode unknown (no health reading), when `nvidia-smi -L` lists instances under it. A MIG GPU whose
 * instances cannot be listed, or that has none, offers nothing (it is `unschedulable`, with the reason); a GPU with
 * MIG mode unknown and no listing stays whole, as before MIG support. `listing` is `undefined` when `-L` was not run.
 */
export function expandMig(
  gpus: GpuInfo[],
  listing: GpuListing | undefined,
  table: Map<string, TableMig>,
): MigExpansion {
  const out: MigExpansion = { gpus: [], unschedulable: [], approximate: [] };
  for (const gpu of gpus) {
    const mode = gpu.health?.migMode ?? null;
    const listed = listing && "gpus" in listing
      ? listing.gpus.find((l) => l.index === gpu.index && l.uuid === gpu.uuid)
      : undefined;
    const migOn = mode === "Enabled" || (mode === null && (listed?.mig.length ?? 0) > 0);
    if (!migOn) {
      out.gpus.push(gpu);
      continue;
    }
    const refuse = (reason: string) =>
      out.unschedulable.push({ index: gpu.index, uuid: gpu.uuid, name: gpu.name, reason });
    if (listing && "error" in listing) {
      refuse(`it is in MIG mode and its MIG instances cannot be listed: ${listing.error}`);
    } else if (!listed) {
      refuse("it is in MIG mode and nvidia-smi -L does not list it");
    } else if (listed.mig.length === 0) {
      refuse(
        "it is in MIG mode without MIG instances: create them (`nvidia-smi mig -i " + gpu.index +
          " -cgi <profiles> -C`) or disable MIG (`nvidia-smi -i " + gpu.index + " -mig 0`)",
      );
    } else {
      for (const inst of listed.mig) {
        const row = table.get(tableKey(gpu.index, inst.device));
        const memory = row?.memoryTotalMiB ?? profileMemoryMiB(inst.profile);
        const name = `${gpu.name} MIG ${inst.profile}`;
        if (memory === null) {
          out.unschedulable.push({
            index: gpu.index,
            uuid: gpu.uuid,
            id: inst.uuid,
            name,
            reason: "its memory size is unknown: the summary table does not list it and its profile name has no size",
          });
          continue;
        }
        if (!row) {
          out.approximate.push({ gpu: gpu.index, id: inst.uuid, profile: inst.profile, memoryTotalMiB: memory });
        }
        const mig: MigInstance = {
          profile: inst.profile,
          device: inst.device,
          gpuInstanceId: row?.gpuInstanceId ?? null,
          computeInstanceId: row?.computeInstanceId ?? null,
          gpuName: gpu.name,
          gpuMemoryTotalMiB: gpu.memoryTotalMiB,
          memorySource: row ? "table" : "profile",
        };
        out.gpus.push({ ...gpu, id: inst.uuid, name, memoryTotalMiB: memory, mig });
      }
    }
  }
  return out;
}
