/** `run`: start the agent and serve until SIGINT/SIGTERM. */
import type { Command } from "../cli/command.ts";
import { runAgent } from "./agent.ts";

/** `run` (the default command). */
export const runCommand: Command = {
  name: "run",
  summary: "start the agent and serve jobs until SIGINT/SIGTERM (default)",
  description: "The first SIGINT/SIGTERM stops intake and lets running jobs finish within SHUTDOWN_TIMEOUT;\n" +
    "a second one stops them at once. Either way no job container is left behind.",
  usesKey: true,
  async run(ctx) {
    await runAgent({ loaded: ctx.loaded, logger: ctx.logger, signal: ctx.signal, force: ctx.force });
    return 0;
  },
};
