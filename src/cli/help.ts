/** Usage and help texts, derived from the command table and the config schema. */
import { flagName, varList } from "../config/mod.ts";
import type { Command } from "./command.ts";

/** The program name as operators type it. */
export const PROGRAM = "lamda-node-agent";

/** The program's help: commands and global flags. */
export function programHelp(commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    `${PROGRAM} — the Lamda Network node agent`,
    "",
    `Usage: ${PROGRAM} [command] [options]`,
    "",
    "Commands (default: run):",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Global options:",
    "  --env-file PATH     read configuration from PATH instead of ./.env",
    "  -h, --help          show help (also after a command: run --help)",
    "  --<variable> VALUE  set any configuration variable, e.g. --log-level debug for LOG_LEVEL",
    "",
    `Configuration precedence: flags > environment > .env > defaults. See \`${PROGRAM} config\`.`,
  ].join("\n");
}

/** One command's help. */
export function commandHelp(command: Command): string {
  const opts = Object.entries(command.options ?? {});
  const usage = `Usage: ${PROGRAM} ${command.name}${opts.length ? " [options]" : ""}${
    command.positionals ? " " + command.positionals : ""
  }`;
  const lines = [`${PROGRAM} ${command.name} — ${command.summary}`, "", usage];
  if (command.description) lines.push("", command.description);
  if (opts.length) {
    lines.push("", "Options:");
    for (const [name, o] of opts) {
      const left = `${o.short ? `-${o.short}, ` : ""}--${name}${
        o.type === "string" ? ` ${o.placeholder ?? "VALUE"}` : ""
      }`;
      lines.push(`  ${left.padEnd(24)}${o.description}`);
    }
  }
  lines.push("", `Global options: --env-file PATH, --help, and one flag per variable (${flagName("LOG_LEVEL")} …).`);
  return lines.join("\n");
}

/** Every config flag with its variable, for `config --help`. */
export function configFlagsHelp(): string {
  return varList().map(([, s]) => `  ${flagName(s.env).padEnd(34)}${s.env}`).join("\n");
}
