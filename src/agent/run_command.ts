/** `run`: start the agent and serve until SIGINT/SIGTERM. */
import type { Command } from "../command.ts";
import { formatDuration } from "../config/mod.ts";
import { errorFields } from "../log/mod.ts";
import { runAgent, StartupError } from "./agent.ts";

/** `run` (the default command). */
export const runCommand: Command = {
  name: "run",
  summary: "start the agent and serve jobs until SIGINT/SIGTERM (default)",
  description: "The first SIGINT/SIGTERM stops intake and lets running jobs finish within SHUTDOWN_TIMEOUT;\n" +
    "a second one stops them at once. Either way no job container is left behind.",
  usesKey: true,
  async run(ctx) {
    const started = performance.now();
    const stopped = (code: number) => {
      ctx.logger.info("agent stopped", {
        exit_code: code,
        uptime: formatDuration(Math.round((performance.now() - started) / 1000) * 1000),
      });
      return code;
    };
    try {
      await runAgent({ loaded: ctx.loaded, logger: ctx.logger, signal: ctx.signal, force: ctx.force });
    } catch (error) {
      if (!(error instanceof StartupError)) throw error;
      // The message already holds the cause's sentence; the cause chain adds the error types and the OS error.
      ctx.logger.error(error.message, { step: error.component, cause: errorFields(error).cause });
      return stopped(1);
    }
    return stopped(0);
  },
};
