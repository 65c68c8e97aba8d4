/** Command-line parsing: global flags (one per config variable, plus --env-file and --help), a command, its options. */
import { parseArgs } from "node:util";
import { flagName, varList } from "../config/mod.ts";
import type { Command } from "./command.ts";

/** The command line was wrong; the entry point prints usage and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
  /** The command whose usage to print, if known. */
  readonly command?: Command;
  constructor(message: string, command?: Command) {
    super(message);
    this.command = command;
  }
}

/** A parsed command line. */
export interface ParsedArgs {
  command: Command;
  /** True when the command was not named and the default was used. */
  defaulted: boolean;
  help: boolean;
  envFile?: string;
  /** Config values given as flags, keyed by variable name. */
  configFlags: Record<string, string>;
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

/** The global options every command accepts. */
export function globalOptions(): Record<string, OptionSpec> {
  const opts: Record<string, OptionSpec> = {
    "env-file": { type: "string" },
    help: { type: "boolean", short: "h" },
  };
  for (const [, spec] of varList()) opts[flagName(spec.env).slice(2)] = { type: "string" };
  return opts;
}

/** Parses `argv` against the known commands; `fallback` runs when no command is named. Throws {@linkcode UsageError}. */
export function parseCommandLine(argv: string[], commands: Command[], fallback: Command): ParsedArgs {
  const globals = globalOptions();
  // Find the command: the first token that is neither a flag nor the value of a string flag.
  let command: Command | undefined;
  let commandIndex = -1;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === "--") break;
    if (tok.startsWith("-")) {
      const name = tok.replace(/^--?/, "");
      if (!tok.includes("=") && globals[name]?.type === "string") i++;
      continue;
    }
    command = commands.find((c) => c.name === tok);
    if (!command) throw new UsageError(`Unknown command ${JSON.stringify(tok)}`);
    commandIndex = i;
    break;
  }
  const defaulted = command === undefined;
  command ??= fallback;
  const rest = commandIndex >= 0 ? [...argv.slice(0, commandIndex), ...argv.slice(commandIndex + 1)] : argv;
  const own: Record<string, OptionSpec> = {};
  for (const [name, o] of Object.entries(command.options ?? {})) {
    own[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...globals, ...own }, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/s, ""), command);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const configFlags: Record<string, string> = {};
  for (const [, spec] of varList()) {
    const v = values[flagName(spec.env).slice(2)];
    if (typeof v === "string") configFlags[spec.env] = v;
  }
  const options: ParsedArgs["options"] = {};
  for (const name of Object.keys(own)) options[name] = values[name];
  if (!command.positionals && parsed.positionals.length > 0) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(parsed.positionals[0])}`, command);
  }
  return {
    command,
    defaulted,
    help: values.help === true,
    envFile: values["env-file"] as string | undefined,
    configFlags,
    options,
    positionals: parsed.positionals,
  };
}
