/**
 * `doctor`: checks everything the agent needs — configuration, DATA_DIR, nvidia-smi and GPU health, Docker and its NVIDIA
 * runtime, NATS, the chain, the clock, Pinata and the gateways — each on its own with a deadline, and prints
 * pass/warn/fail with the fix. `--offline` keeps the local checks only.
 */
import type { Command } from "../command.ts";
import { Logger } from "../log/mod.ts";
import { localChecks, localProbes } from "./doctor_local.ts";
import { networkChecks } from "./doctor_network.ts";
import { explainDenial } from "../permissions/mod.ts";
import { exitCodeOf, fail, formatReport, runChecks } from "./doctor_report.ts";

export { type CheckLevel, type CheckResult, exitCodeOf, formatReport, runChecks } from "./doctor_report.ts";

/** Default deadline of one check, in ms. */
export const CHECK_TIMEOUT_MS = 15_000;

/** `doctor [--offline] [--json]`: exit 0 when no check failed (warnings allowed), 1 otherwise. */
export const doctorCommand: Command = {
  name: "doctor",
  summary: "check Docker, GPUs, NATS, the chain, storage, DATA_DIR and the clock; print each result and its fix",
  description: "Exits 1 when any check fails; warnings (GPU checks in CPU-only mode, clock skew, hot GPUs) do not.\n" +
    "--offline runs only the local checks (config, DATA_DIR, nvidia-smi, GPU health, Docker) and touches no network.",
  options: {
    offline: { type: "boolean", description: "run only the local checks" },
    json: { type: "boolean", description: "print the results as JSON" },
  },
  // Not `usesKey`: the CLI would refuse to start on an open `.env`; doctor reports it as one of its rows instead.
  async run(ctx) {
    const { config, envFile } = ctx.loaded;
    // The components' own progress logs would interleave with the report: only their errors are shown.
    const quiet = new Logger({ level: "error", writer: ctx.logger.writer, redactor: ctx.logger.redactor }).child({
      command: "doctor",
    });
    const probes = localProbes(config, quiet);
    // A server that refuses the NATS login resets the socket after the failed attempt has been reported; the
    // transport raises that reset with no listener left, possibly after the report. It must not change the outcome,
    // so the listener stays until the process ends (doctor is the last thing it does).
    const late = (event: ErrorEvent) => {
      if (!/ECONNRESET|EPIPE/.test(String(event.error?.message ?? event.message))) return;
      event.preventDefault();
      quiet.debug("late socket error after a failed connection", { error: event.error });
    };
    globalThis.addEventListener("error", late);
    try {
      const offline = ctx.options.offline === true;
      const checks = localChecks(config, probes, { offline, envFile });
      if (!offline) checks.push(...networkChecks(config, probes, quiet));
      const explain = (error: unknown) => {
        const denial = explainDenial(error, config, { envFile: envFile?.path, cwd: Deno.cwd() });
        return denial && fail(denial.problem, denial.fix);
      };
      const results = await runChecks(checks, { timeoutMs: CHECK_TIMEOUT_MS, signal: ctx.signal, explain });
      const redact = (text: string) => ctx.logger.redactor.text(text);
      if (ctx.options.json) {
        const body = { ok: exitCodeOf(results) === 0, offline, checks: results };
        ctx.print(redact(JSON.stringify(body, null, 2)));
      } else {
        for (const line of formatReport(results)) ctx.print(redact(line));
      }
      return exitCodeOf(results);
    } finally {
      await probes.close();
    }
  },
};
