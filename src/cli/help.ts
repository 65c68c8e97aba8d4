/** Usage and help texts, derived from the command table and the config schema. */
import { flagName, varList } from "../config/mod.ts";
import { HELP_COMMAND, optionUsage, positionalUsage } from "./args.ts";
import type { Command } from "../command.ts";

/** The program name as operators type it. */
export const PROGRAM = "lamda-node-agent";

/** The program's help: commands and global flags. */
export function programHelp(commands: Command[]): string {
  const width = Math.max(HELP_COMMAND.length, ...commands.map((c) => c.name.length)) + 2;
  return [
    `${PROGRAM} — the Lamda Network node agent`,
    "",
    `Usage: ${PROGRAM} [command] [options]`,
    "",
    "Commands (default: run):",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${HELP_COMMAND.padEnd(width)}show this help; \`${HELP_COMMAND} <command>\` shows a command's options`,
    "",
    "Global options:",
    "  --env-file PATH     read configuration from PATH instead of ./.env",
    "  -h, --help          show help (also after a command: run --help)",
    ...(commands.some((c) => c.name === "version") ? ["  -v, --version       print the version"] : []),
    "  --<variable> VALUE  set any configuration variable, e.g. --log-level debug for LOG_LEVEL",
    "",
    `Configuration precedence: flags > environment > .env > defaults. See \`${PROGRAM} config\`.`,
  ].join("\n");
}

/** One command's help. */
export function commandHelp(command: Command): string {
  const opts = Object.entries(command.options ?? {});
  const positionals = command.positionals ?? [];
  const usage = [
    `Usage: ${PROGRAM} ${command.name}`,
    ...opts.filter(([, o]) => o.required).map(([name]) => optionUsage(name, command)),
    ...(opts.some(([, o]) => !o.required) ? ["[options]"] : []),
    ...positionals.map(positionalUsage),
  ].join(" ");
  const lines = [`${PROGRAM} ${command.name} — ${command.summary}`, "", usage];
  if (command.description) lines.push("", command.description);
  if (positionals.some((p) => p.description)) {
    lines.push("", "Arguments:");
    for (const p of positionals) lines.push(`  ${positionalUsage(p).padEnd(24)}${p.description ?? ""}`);
  }
  if (opts.length) {
    lines.push("", "Options:");
    for (const [name, o] of opts) {
      const left = `${o.short ? `-${o.short}, ` : ""}--${name}${
        o.type === "string" ? ` ${o.placeholder ?? "VALUE"}` : ""
      }`;
      lines.push(`  ${left.padEnd(24)}${o.description}${o.required ? " (required)" : ""}`);
    }
  }
  lines.push(
    "",
    `Global options: --env-file PATH, --help, --version, and one flag per variable (${flagName("LOG_LEVEL")} …).`,
  );
  return lines.join("\n");
}

/** Every config flag with its variable, for `config --help`. */
export function configFlagsHelp(): string {
  return varList().map(([, s]) => `  ${flagName(s.env).padEnd(34)}${s.env}`).join("\n");
}
