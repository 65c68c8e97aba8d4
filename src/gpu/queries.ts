/** The exact nvidia-smi invocations and the zod schemas that validate their rows. */
import { z } from "zod";
import { isUnavailable, parseNumber } from "./csv.ts";
import type { ThrottleReason } from "./types.ts";

/** Identity fields: supported by every driver since the CSV query exists, so the inventory never fails on an old one. */
export const IDENTITY_FIELDS = ["index", "uuid", "name", "memory.total", "driver_version", "pci.bus_id"] as const;

/**
 * Health fields. `clocks_throttle_reasons.active` is the name every driver accepts (newer ones alias it to
 * `clocks_event_reasons.active`). A driver that rejects a field fails only this query, never the inventory.
 */
export const HEALTH_FIELDS = [
  "index",
  "uuid",
  "temperature.gpu",
  "utilization.gpu",
  "ecc.errors.corrected.volatile.total",
  "ecc.errors.uncorrected.volatile.total",
  "clocks_throttle_reasons.active",
  "power.draw",
  "power.limit",
  "mig.mode.current",
] as const;

const FORMAT = "--format=csv,noheader,nounits";

/** Arguments of the identity query. */
export const IDENTITY_ARGS: readonly string[] = [`--query-gpu=${IDENTITY_FIELDS.join(",")}`, FORMAT];
/** Arguments of the health query. */
export const HEALTH_ARGS: readonly string[] = [`--query-gpu=${HEALTH_FIELDS.join(",")}`, FORMAT];

/**
 * Memory repair state: pages pending retirement (GPUs before Ampere) and rows pending remapping or failed to remap
 * (Ampere and later); `[N/A]` where the GPU does not track them (MIG mode, consumer GPUs). A query of its own, so a
 * driver that rejects these fields costs only this reading.
 */
export const MEMORY_FIELDS = [
  "index",
  "uuid",
  "retired_pages.pending",
  "remapped_rows.pending",
  "remapped_rows.failure",
] as const;
/** Arguments of the memory repair query. */
export const MEMORY_ARGS: readonly string[] = [`--query-gpu=${MEMORY_FIELDS.join(",")}`, FORMAT];
/**
 * Arguments for the summary table, whose header is the portable source of the CUDA version and whose "MIG devices"
 * section gives each MIG instance's exact memory.
 */
export const SUMMARY_ARGS: readonly string[] = [];
/** Arguments of the GPU list, the one place nvidia-smi names MIG instances with their `MIG-…` UUIDs and profiles. */
export const LIST_ARGS: readonly string[] = ["-L"];

const index = z.string().regex(/^\d+$/, "index is not a number").transform(Number);
const uuid = z.string().regex(/^GPU-[0-9a-fA-F-]+$/, "uuid is not a GPU UUID (GPU-…)");
const nullableNumber = (what: string) =>
  z.string().transform((s, ctx) => {
    const n = parseNumber(s);
    if (Number.isNaN(n)) {
      ctx.addIssue({ code: "custom", message: `${what} is not a number: ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    return n;
  });

/** One identity row, validated. */
export const identityRow = z.tuple([
  index,
  uuid,
  z.string().min(1, "name is empty"),
  nullableNumber("memory.total").pipe(z.number({ error: "memory.total is unavailable" }).int().nonnegative()),
  z.string().transform((s) => (isUnavailable(s) ? null : s)),
  z.string().transform((s, ctx) => {
    if (isUnavailable(s)) return null;
    if (!/^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]$/.test(s)) {
      ctx.addIssue({ code: "custom", message: `pci.bus_id is not a PCI address: ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    return s.toUpperCase();
  }),
]);

/** One health row, validated. */
export const healthRow = z.tuple([
  index,
  uuid,
  nullableNumber("temperature.gpu"),
  nullableNumber("utilization.gpu"),
  nullableNumber("ecc.errors.corrected.volatile.total"),
  nullableNumber("ecc.errors.uncorrected.volatile.total"),
  z.string().transform((s, ctx) => {
    if (isUnavailable(s)) return null;
    if (!/^0x[0-9A-Fa-f]+$/.test(s)) {
      ctx.addIssue({
        code: "custom",
        message: `clocks_throttle_reasons.active is not a bitmask: ${JSON.stringify(s)}`,
      });
      return z.NEVER;
    }
    return s;
  }),
  nullableNumber("power.draw"),
  nullableNumber("power.limit"),
  z.string().transform((s) => (s === "Enabled" || s === "Disabled" ? s : null)),
]);

/** NVML's `nvmlClocksEventReasons` bits. */
const THROTTLE_BITS: [bigint, ThrottleReason][] = [
  [0x1n, "gpu_idle"],
  [0x2n, "applications_clocks_setting"],
  [0x4n, "sw_power_cap"],
  [0x8n, "hw_slowdown"],
  [0x10n, "sync_boost"],
  [0x20n, "sw_thermal_slowdown"],
  [0x40n, "hw_thermal_slowdown"],
  [0x80n, "hw_power_brake_slowdown"],
  [0x100n, "display_clock_setting"],
];

/** Decodes a throttle bitmask (`0x0000000000000004`) into reason names. */
export function decodeThrottle(mask: string | null): ThrottleReason[] {
  if (mask === null) return [];
  const bits = BigInt(mask);
  return THROTTLE_BITS.filter(([bit]) => (bits & bit) !== 0n).map(([, name]) => name);
}

/** The CUDA version from the summary table header (`CUDA Version: 13.1`, or `CUDA UMD Version: 13.3` on newer drivers). */
export function parseCudaVersion(summary: string): string | null {
  return /CUDA(?: UMD)? Version:\s*([0-9]+(?:\.[0-9]+)*)/.exec(summary)?.[1] ?? null;
}

/** `Yes`/`No` as nvidia-smi prints them; `[N/A]` and anything else is unknown. */
const yesNo = z.string().transform((s) => (s === "Yes" ? true : s === "No" ? false : null));

/** One memory repair row, validated. */
export const memoryRow = z.tuple([index, uuid, yesNo, yesNo, yesNo]);
