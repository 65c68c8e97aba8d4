/** The shape of one CLI command; each component that offers a command exports one of these. */
import type { LoadedConfig } from "./config/mod.ts";
import type { Logger } from "./log/mod.ts";

/** A command-specific option (`--json`, `--offline`, `--file PATH`). */
export interface CommandOption {
  type: "boolean" | "string";
  description: string;
  /** Value placeholder shown in help, for string options. */
  placeholder?: string;
  short?: string;
  /** A string option that may be given several times. */
  multiple?: boolean;
  /** The command cannot run without it (a string option given a non-empty value); the parser checks it. */
  required?: boolean;
}

/** A positional argument; the parser checks how many were given. */
export interface CommandPositional {
  /** As shown in usage: `receipt.json|-` is printed `<receipt.json|->`. */
  name: string;
  /** Shown under "Arguments:" in the command's help. */
  description?: string;
  /** May be left out (printed `[name]`); only the last ones may be optional. */
  optional?: boolean;
  /** Takes every remaining argument (printed `<name>...`); only the last one may be variadic. */
  variadic?: boolean;
}

/** What a command gets to work with. Commands return an exit code; they never call `Deno.exit`. */
export interface CommandContext {
  /** Positional arguments after the command name. */
  args: string[];
  /** Values of the command's own options. */
  options: Record<string, string | boolean | string[] | undefined>;
  /** The effective configuration (`.env` + environment + flags), validated. */
  loaded: LoadedConfig;
  /** The process logger, already configured from LOG_LEVEL/LOG_FORMAT, secrets registered. */
  logger: Logger;
  /** Writes a line to standard output (the command's result). */
  print(line: string): void;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Aborted on a second SIGINT/SIGTERM: stop now. */
  force?: AbortSignal;
}

/** One CLI command. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Extra help text shown by `<command> --help`. */
  description?: string;
  /** Positional arguments, in order; a command without them accepts none. */
  positionals?: CommandPositional[];
  options?: Record<string, CommandOption>;
  /** Uses the node key: a `.env` holding it must not be readable by group/others. */
  usesKey?: boolean;
  /** `false`: runs on the defaults without reading `.env`, environment or flags (`version` works with a broken `.env`). */
  usesConfig?: boolean;
  run(ctx: CommandContext): Promise<number>;
}
