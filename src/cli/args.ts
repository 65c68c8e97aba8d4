/**
 * Command-line parsing: global flags (one per config variable, plus --env-file, --help and --version), a command, its
 * options and positionals, checked against what the command declares.
 */
import { parseArgs } from "node:util";
import { flagName, varList } from "../config/mod.ts";
import type { Command, CommandPositional } from "../command.ts";
import { closest } from "./suggest.ts";

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
  /** Help was asked for (`--help`, `-h`, `help [command]`): print it instead of running `command`. */
  help: boolean;
  envFile?: string;
  /** Config values given as flags, keyed by variable name. */
  configFlags: Record<string, string>;
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** The word that prints help instead of running a command: `help`, `help <command>`. */
export const HELP_COMMAND = "help";

/** The command that `--version` / `-v` stand for. */
const VERSION_COMMAND = "version";

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };
type Options = Record<string, OptionSpec>;

/** The global options every command accepts. */
export function globalOptions(): Options {
  const opts: Options = {
    "env-file": { type: "string" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "v" },
  };
  for (const [, spec] of varList()) opts[flagName(spec.env).slice(2)] = { type: "string" };
  return opts;
}

/**
 * Parses `argv` against the known commands; `fallback` runs when no command is named. Throws {@linkcode UsageError}.
 *
 * The command is the first word that is neither a flag nor a flag's value. An unknown flag may take a value, so the
 * word after it counts as that value unless it names a command: `--log-levle debug config` is config with an unknown
 * option, reported as such (with the nearest known flag), not the unknown command "debug".
 */
export function parseCommandLine(argv: string[], commands: Command[], fallback: Command): ParsedArgs {
  const globals = globalOptions();
  const versionCommand = commands.find((c) => c.name === VERSION_COMMAND);
  if (!versionCommand) delete globals.version;
  const isCommand = (word: string) => word === HELP_COMMAND || commands.some((c) => c.name === word);
  // Before the command is known, a flag may be any command's option (`--json version`).
  const anyOption: Options = {};
  for (const c of commands) for (const [name, o] of Object.entries(ownOptions(c))) anyOption[name] ??= o;
  Object.assign(anyOption, globals);

  let command: Command | undefined;
  let helpAsked = false;
  const named: number[] = [];
  for (let i = 0; i < argv.length && command === undefined; i++) {
    const tok = argv[i];
    if (tok === "--") break;
    const flag = flagOf(tok);
    if (flag) {
      const spec = lookup(flag, anyOption);
      if (flag.inline) continue;
      if (spec?.type === "string") i++;
      else if (!spec && i + 1 < argv.length && !flagOf(argv[i + 1]) && !isCommand(argv[i + 1])) i++;
      continue;
    }
    if (tok === HELP_COMMAND && !helpAsked) {
      helpAsked = true;
      named.push(i);
      continue;
    }
    command = commands.find((c) => c.name === tok);
    if (!command) {
      const guess = closest(tok, [...commands.map((c) => c.name), ...(helpAsked ? [] : [HELP_COMMAND])]);
      throw new UsageError(`Unknown command ${JSON.stringify(tok)}${guess ? ` — did you mean "${guess}"?` : ""}`);
    }
    named.push(i);
  }
  const defaulted = command === undefined;
  // Without a named command, `--version` / `-v` names the version command, so its options (`-v --json`) are known.
  const versionFlag = (t: string) => t === "--version" || t === "-v";
  if (defaulted && versionCommand && argv.slice(0, until(argv)).some(versionFlag)) command = versionCommand;
  command ??= fallback;
  const rest = argv.filter((_, i) => !named.includes(i));
  const own = ownOptions(command);
  const known = { ...globals, ...own };
  checkFlags(rest, known, { command, commands, defaulted });

  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: known, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/s, ""), command);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const configFlags: Record<string, string> = {};
  for (const [, spec] of varList()) {
    const v = values[flagName(spec.env).slice(2)];
    if (typeof v === "string") configFlags[spec.env] = v;
  }
  const help = helpAsked || values.help === true;
  if (helpAsked && parsed.positionals.length > 0) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  }
  // `--version` is the version command, whatever else is named (as `--help` is help).
  const asVersion = !help && values.version === true ? versionCommand : undefined;
  if (asVersion) command = asVersion;
  const version = asVersion !== undefined;
  const options: ParsedArgs["options"] = {};
  for (const name of Object.keys(ownOptions(command))) options[name] = values[name];
  if (!help && !version) checkDeclared(command, options, parsed.positionals);
  return {
    command,
    defaulted: defaulted && !version,
    help,
    envFile: values["env-file"] as string | undefined,
    configFlags,
    options,
    positionals: parsed.positionals,
  };
}

/** Shows a positional as usage does: `<file>`, `[file]`, `<file>...`. */
export function positionalUsage(p: CommandPositional): string {
  const dots = p.variadic ? "..." : "";
  return p.optional ? `[${p.name}]${dots}` : `<${p.name}>${dots}`;
}

/** Shows an option as usage does: `--image IMAGE`, `--json`. */
export function optionUsage(name: string, command: Command): string {
  const o = command.options?.[name];
  return `--${name}${o?.type === "string" ? ` ${o.placeholder ?? "VALUE"}` : ""}`;
}

function ownOptions(command: Command): Options {
  const own: Options = {};
  for (const [name, o] of Object.entries(command.options ?? {})) {
    own[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  return own;
}

/** Where flags end: at `--`, or the end. */
function until(argv: string[]): number {
  const i = argv.indexOf("--");
  return i < 0 ? argv.length : i;
}

type Flag = { name: string; long: boolean; inline: boolean };

/** `--log-level=debug` → `{ name: "log-level", long, inline }`; `-h` → `{ name: "h" }`; undefined for `-` and words. */
function flagOf(tok: string): Flag | undefined {
  if (tok === "-" || !tok.startsWith("-")) return undefined;
  if (!tok.startsWith("--")) return { name: tok.slice(1), long: false, inline: false };
  const eq = tok.indexOf("=");
  return { name: eq < 0 ? tok.slice(2) : tok.slice(2, eq), long: true, inline: eq >= 0 };
}

/** The spec a flag token stands for in `options`; a group of short flags (`-hv`) is known when each one is. */
function lookup(flag: Flag, options: Options): OptionSpec | undefined {
  if (flag.long) return Object.hasOwn(options, flag.name) ? options[flag.name] : undefined;
  const byShort = (c: string) => Object.values(options).find((o) => o.short === c);
  if (flag.name.length === 1) return byShort(flag.name);
  return [...flag.name].every((c) => byShort(c)?.type === "boolean") ? { type: "boolean" } : undefined;
}

/** Throws for the first flag that is neither global nor the command's own, naming the nearest one. */
function checkFlags(
  args: string[],
  known: Options,
  context: { command: Command; commands: Command[]; defaulted: boolean },
): void {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return;
    const flag = flagOf(args[i]);
    if (!flag) continue;
    const spec = lookup(flag, known);
    if (spec) {
      if (spec.type === "string" && !flag.inline) i++;
      continue;
    }
    const shown = flag.long ? `--${flag.name}` : `-${flag.name}`;
    let hint = "";
    const guess = flag.long ? closest(flag.name, Object.keys(known)) : undefined;
    if (guess) hint = ` — did you mean --${guess}?`;
    else if (flag.long) {
      const owners = context.commands.filter((c) => c.options && Object.hasOwn(c.options, flag.name));
      const names = owners.map((c) => c.name);
      if (names.length > 3) names.splice(2, names.length, `${names.length - 2} other commands`);
      if (names.length) hint = ` (an option of ${names.join(", ").replace(/, ([^,]*)$/, " and $1")})`;
    }
    throw new UsageError(`Unknown option ${shown}${hint}`, context.defaulted ? undefined : context.command);
  }
}

/** Checks what the command declares: required options given, and as many positionals as it takes. */
function checkDeclared(command: Command, options: ParsedArgs["options"], positionals: string[]): void {
  const missing = Object.entries(command.options ?? {})
    .filter(([name, o]) => o.required && [undefined, ""].includes(options[name] as string | undefined))
    .map(([name]) => optionUsage(name, command));
  if (missing.length) {
    throw new UsageError(`Missing required option${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`, command);
  }
  const declared = command.positionals ?? [];
  const min = declared.filter((p) => !p.optional).length;
  const max = declared.at(-1)?.variadic ? Infinity : declared.length;
  if (positionals.length < min) {
    throw new UsageError(`Missing argument ${positionalUsage(declared[positionals.length])}`, command);
  }
  if (positionals.length > max) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[max])}`, command);
  }
}
