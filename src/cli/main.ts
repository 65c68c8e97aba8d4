/** The CLI: parse the command line, load configuration, build the logger, run one command, return its exit code. */
import { resolve } from "node:path";
import { ConfigError, loadConfig, type LoadedConfig, parseEnvFile, secretsOf, varList } from "../config/mod.ts";
import { JsonWriter, Logger, PrettyWriter } from "../log/mod.ts";
import { checkEnvFileMode, KeyError } from "../chain/key.ts";
import { deniedAccess, explainDenial, INSTALL_CONFIG_DIR, permissionsHint } from "../permissions/mod.ts";
import { parseCommandLine, UsageError } from "./args.ts";
import type { Command } from "../command.ts";
import { commandHelp, programHelp } from "./help.ts";

/** Exit codes of the program. */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 78 } as const;

/** What the CLI needs from the outside world; the entry point passes the real one, tests a captured one. */
export interface CliIo {
  /** Reads one environment variable (only the ones the schema declares are asked for). */
  env(name: string): string | undefined;
  /** Reads a text file; throws `Deno.errors.NotFound` when missing. */
  readTextFile(path: string): Promise<string>;
  stdout(line: string): void;
  stderr(line: string): void;
  /** Aborted when the process is asked to stop. */
  signal: AbortSignal;
  /** Aborted when it is asked a second time. */
  force?: AbortSignal;
}

/** Options of {@linkcode runCli}. */
export interface CliOptions {
  commands: Command[];
  /** The command run when none is named. */
  fallback: Command;
}

/** Runs the CLI and returns the exit code. Never exits the process. */
export async function runCli(argv: string[], io: CliIo, options: CliOptions): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv, options.commands, options.fallback);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`error: ${error.message}\n`);
    io.stderr(error.command ? commandHelp(error.command) : programHelp(options.commands));
    return EXIT.usage;
  }
  if (parsed.help) {
    io.stdout(parsed.defaulted ? programHelp(options.commands) : commandHelp(parsed.command));
    return EXIT.ok;
  }

  let loaded: LoadedConfig;
  try {
    loaded = parsed.command.usesConfig === false
      ? loadConfig()
      : await readConfig(parsed.envFile, parsed.configFlags, io);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(error.message);
      return EXIT.config;
    }
    throw error;
  }
  const logger = createLogger(loaded, io.stderr);
  try {
    if (parsed.command.usesKey && loaded.envFile) {
      await checkEnvFileMode(loaded.envFile, { allowInsecure: loaded.config.allowInsecureKeyFileMode, logger });
    }
    return await parsed.command.run({
      args: parsed.positionals,
      options: parsed.options,
      loaded,
      logger,
      print: io.stdout,
      signal: io.signal,
      force: io.force,
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(error.message);
      return EXIT.config;
    }
    // Setup problems that restarting will not fix: exit 78, which systemd does not retry, with the fix.
    const denial = explainDenial(error, loaded.config, { envFile: parsed.envFile, cwd: workingDirectory() });
    if (denial) {
      io.stderr(logger.redactor.text(`Permission denied: ${denial.problem}.\n  Fix: ${denial.fix}`));
      return EXIT.config;
    }
    if (error instanceof KeyError) {
      io.stderr(logger.redactor.text(error.message));
      return EXIT.config;
    }
    const e = error as Error;
    logger.error(`${parsed.command.name} failed: ${e.message}`, { error: e });
    return EXIT.failure;
  }
}

/** The working directory, for resolving relative paths in messages; `/` when even that is refused. */
function workingDirectory(): string {
  try {
    return Deno.cwd();
  } catch {
    return "/";
  }
}

/** Reads `.env` (or `--env-file`), the environment and flags into a validated config. */
export async function readConfig(
  envFilePath: string | undefined,
  flags: Record<string, string>,
  io: Pick<CliIo, "env" | "readTextFile">,
): Promise<LoadedConfig> {
  const path = envFilePath ?? ".env";
  let envFile;
  try {
    envFile = parseEnvFile(path, await io.readTextFile(path));
  } catch (error) {
    // A missing default .env is fine; a missing file named with --env-file is an error.
    if (!(error instanceof Deno.errors.NotFound) || envFilePath !== undefined) {
      const denied = deniedAccess(error) !== undefined;
      throw new ConfigError([{
        variable: "--env-file",
        value: path,
        message: denied
          ? `cannot be read under the agent's permission set (${(error as Error).message}); keep it in ` +
            `${INSTALL_CONFIG_DIR}/ or ./.env, which the set allows, or run with wider permissions: ` +
            permissionsHint({ envFile: resolve(path) })
          : `cannot be read: ${(error as Error).message}`,
        example: denied ? `${INSTALL_CONFIG_DIR}/agent.env` : "./.env",
      }]);
    }
  }
  const env: Record<string, string | undefined> = {};
  for (const [, spec] of varList()) env[spec.env] = io.env(spec.env);
  return loadConfig({ env, envFile, flags });
}

/**
 * Builds the process logger from config. Every secret value is registered with its redactor, and so are the
 * credentials inside every URL variable (`nats://user:pass@…`, an RPC URL's API key), whatever logs them.
 */
export function createLogger(loaded: LoadedConfig, write: (line: string) => void): Logger {
  const { config, raw } = loaded;
  const writer = config.logFormat === "pretty" ? new PrettyWriter(write) : new JsonWriter(write);
  const logger = new Logger({ level: config.logLevel, writer });
  for (const [key, spec] of varList()) for (const secret of secretsOf(spec, raw[key])) logger.redactor.add(secret);
  return logger;
}
