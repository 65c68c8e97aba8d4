/** The command table. */
import { runCommand } from "../agent/run_command.ts";
import { configCommand, versionCommand } from "./basic_commands.ts";
import type { Command } from "./command.ts";

/** Every command, in help order. */
export const COMMANDS: Command[] = [runCommand, versionCommand, configCommand];

/** The command run when none is named. */
export const DEFAULT_COMMAND: Command = runCommand;
