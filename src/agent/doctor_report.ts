/** The doctor's check model: each check runs on its own with a deadline, and reports pass, warn or fail with a fix. */
import { timeoutSignal } from "../timers.ts";

/** How a check came out. `warn` does not change the exit code; `fail` does. */
export type CheckLevel = "pass" | "warn" | "fail";

/** What one check reports: what it found and, unless it passed, how to fix it. */
export interface CheckResult {
  /** Stable name (`docker`, `nats`, `chain`, …). */
  name: string;
  level: CheckLevel;
  /** What was found, in one line. */
  found: string;
  /** What to do about it. */
  fix?: string;
  /** How long the check took. */
  ms: number;
}

/** A check's own verdict, before timing and naming are added. */
export type CheckOutcome = Omit<CheckResult, "name" | "ms">;

/** One diagnostic check. */
export interface DoctorCheck {
  name: string;
  /** Runs only local probes (config, files, nvidia-smi, the Docker socket): kept by `--offline`. */
  local: boolean;
  /** Per-check deadline; default from {@linkcode RunChecksOptions.timeoutMs}. */
  timeoutMs?: number;
  /** The fix shown when the check throws or times out. */
  fix: string;
  run(signal: AbortSignal): Promise<CheckOutcome>;
}

/** Options of {@linkcode runChecks}. */
export interface RunChecksOptions {
  /** Default per-check deadline in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * Turns an error a check threw into its own outcome (a sandbox refusal names the setting and the flags command);
   * undefined leaves the check's generic fix.
   */
  explain?(error: unknown): CheckOutcome | undefined;
}

/** A check result helper: passes with `found`. */
export function pass(found: string): CheckOutcome {
  return { level: "pass", found };
}

/** A check result helper: warns with `found` and `fix`. */
export function warn(found: string, fix: string): CheckOutcome {
  return { level: "warn", found, fix };
}

/** A check result helper: fails with `found` and `fix`. */
export function fail(found: string, fix: string): CheckOutcome {
  return { level: "fail", found, fix };
}

/**
 * Runs every check concurrently, each under its own deadline; a check that throws or overruns fails with its fix and
 * never stops the others. Results come back in the order the checks were given.
 */
export function runChecks(checks: DoctorCheck[], options: RunChecksOptions): Promise<CheckResult[]> {
  return Promise.all(checks.map((check) => runOne(check, options)));
}

async function runOne(check: DoctorCheck, options: RunChecksOptions): Promise<CheckResult> {
  const started = performance.now();
  const limit = check.timeoutMs ?? options.timeoutMs;
  const deadline = timeoutSignal(limit);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const overrun = new Promise<CheckOutcome>((resolve) => {
    timer = setTimeout(() => resolve(fail(`no answer within ${limit / 1000} s`, check.fix)), limit);
  });
  let outcome: CheckOutcome;
  try {
    outcome = await Promise.race([check.run(signal), overrun]);
  } catch (error) {
    const explained = deadline.aborted ? undefined : options.explain?.(error);
    const message = deadline.aborted ? `no answer within ${limit / 1000} s` : oneLine(error);
    outcome = explained ?? fail(message, check.fix);
  } finally {
    clearTimeout(timer);
  }
  return { name: check.name, ...outcome, ms: Math.round(performance.now() - started) };
}

/** An error's message on one line. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim() || (error as Error)?.name || "unknown error";
}

/** The exit code for a set of results: 1 when any failed, else 0. */
export function exitCodeOf(results: CheckResult[]): number {
  return results.some((r) => r.level === "fail") ? 1 : 0;
}

const MARK: Record<CheckLevel, string> = { pass: "PASS", warn: "WARN", fail: "FAIL" };

/** Human-readable report lines: one line per check, an indented fix below warnings and failures, then a summary. */
export function formatReport(results: CheckResult[]): string[] {
  const width = Math.max(...results.map((r) => r.name.length), 4);
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${MARK[r.level]}  ${r.name.padEnd(width)}  ${r.found}`);
    if (r.level !== "pass" && r.fix) lines.push(`      ${" ".repeat(width)}  fix: ${r.fix}`);
  }
  const count = (level: CheckLevel) => results.filter((r) => r.level === level).length;
  lines.push(`${count("pass")} passed, ${count("warn")} warning(s), ${count("fail")} failed`);
  return lines;
}
