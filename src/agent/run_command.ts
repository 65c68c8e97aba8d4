/** `run`: start the agent and serve until SIGINT/SIGTERM. */
import { requireVars } from "../config/mod.ts";
import type { Command } from "../cli/command.ts";

/** `run` (the default command). */
export const runCommand: Command = {
  name: "run",
  summary: "start the agent and serve jobs until SIGINT/SIGTERM (default)",
  usesKey: true,
  run(ctx) {
    requireVars(ctx.loaded.config, { privateKey: "to sign registration and heartbeat transactions" });
    ctx.logger.error("the agent pipeline is not part of this build yet");
    return Promise.resolve(1);
  },
};
