/** The node's key: from AGENT_PRIVATE_KEY or an encrypted JSON keystore, with file-mode checks. Never logged. */
import { resolve } from "node:path";
import { type HDNodeWallet, type Provider, Wallet } from "ethers";
import type { EnvFile } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { ChainError } from "./errors.ts";

/** Where the key comes from (the matching config fields). */
export interface KeySource {
  privateKey?: string;
  keystore?: string;
  keystorePasswordFile?: string;
  allowInsecureKeyFileMode: boolean;
}

/** A wallet able to sign for the node. */
export type AgentWallet = Wallet | HDNodeWallet;

/**
 * The node key cannot be used. Besides the message (problem and fix in one line) it carries both apart, and the
 * setting at fault, so a report can show them in their own columns. Never holds the key or the password.
 */
export class KeyError extends ChainError {
  override name = "KeyError";
  /** The setting at fault: `AGENT_PRIVATE_KEY`, `AGENT_KEYSTORE`, `AGENT_KEYSTORE_PASSWORD_FILE` or `.env`. */
  readonly variable: string;
  /** What is wrong, without the fix. */
  readonly problem: string;
  /** What to do about it (`chmod 600 /etc/lamda-node-agent/agent.env`). */
  readonly fix: string;
  constructor(message: string, details: { variable: string; problem: string; fix: string; cause?: unknown }) {
    super(message, { cause: details.cause });
    this.variable = details.variable;
    this.problem = details.problem;
    this.fix = details.fix;
  }
}

/** The octal mode of a key file when group or others may read it (`"0644"`); undefined when only its owner may. */
export async function exposedMode(path: string, what: string, variable: string): Promise<string | undefined> {
  let mode: number | null;
  try {
    mode = (await Deno.stat(path)).mode;
  } catch (error) {
    throw unreadable(path, what, variable, error);
  }
  // Windows has no unix modes; nothing to check there.
  if (mode === null || (mode & 0o077) === 0) return undefined;
  return (mode & 0o777).toString(8).padStart(4, "0");
}

/**
 * Refuses a file holding key material that group or others can read. With `allowInsecure` it only warns.
 * `what` names the file for people ("keystore", "keystore password file", ".env file").
 */
export async function checkKeyFileMode(
  path: string,
  what: string,
  options: { allowInsecure: boolean; logger?: Logger; variable?: string },
): Promise<void> {
  const variable = options.variable ?? what;
  const octal = await exposedMode(path, what, variable);
  if (octal === undefined) return;
  if (options.allowInsecure) {
    options.logger?.warn(
      `The ${what} is readable by group/others; accepted because ALLOW_INSECURE_KEY_FILE_MODE=true`,
      {
        path,
        mode: octal,
      },
    );
    return;
  }
  const problem = `The ${what} ${path} is readable by group/others (mode ${octal})`;
  throw new KeyError(
    `${problem}; run "chmod 600 ${path}" (or set ALLOW_INSECURE_KEY_FILE_MODE=true on a development machine)`,
    { variable, problem, fix: `chmod 600 ${path} (or set ALLOW_INSECURE_KEY_FILE_MODE=true on a development machine)` },
  );
}

/** For the CLI: refuses a `.env` file that holds AGENT_PRIVATE_KEY and is readable by group/others. */
export async function checkEnvFileMode(
  envFile: Pick<EnvFile, "path" | "entries">,
  options: { allowInsecure: boolean; logger?: Logger },
): Promise<void> {
  const key = envFile.entries.get("AGENT_PRIVATE_KEY");
  if (!key || key.value.trim() === "") return;
  // Named absolutely: the fix is run from wherever the operator reads it (a journal, another shell).
  const path = resolve(envFile.path);
  const octal = await exposedMode(path, ".env file", ".env");
  if (octal === undefined) return;
  if (options.allowInsecure) {
    options.logger?.warn(
      "The .env file holding AGENT_PRIVATE_KEY is readable by group/others; accepted because " +
        "ALLOW_INSECURE_KEY_FILE_MODE=true",
      { path, mode: octal },
    );
    return;
  }
  const problem = `The .env file ${path} holds AGENT_PRIVATE_KEY and is readable by group/others (mode ${octal})`;
  const fix = `chmod 600 ${path} (or set ALLOW_INSECURE_KEY_FILE_MODE=true on a development machine)`;
  throw new KeyError(
    `${problem}; run "chmod 600 ${path}" (or set ALLOW_INSECURE_KEY_FILE_MODE=true on a development machine)`,
    {
      variable: ".env",
      problem,
      fix,
    },
  );
}

/** Loads the node's wallet; throws {@linkcode KeyError} with a fix in the message. The key is never in a message. */
export async function loadWallet(
  source: KeySource,
  options: { provider?: Provider; logger?: Logger } = {},
): Promise<AgentWallet> {
  const { provider, logger } = options;
  if (source.privateKey && source.keystore) {
    throw keyError("AGENT_KEYSTORE", "Both AGENT_PRIVATE_KEY and AGENT_KEYSTORE are set", "keep only one", ": ");
  }
  if (source.privateKey) {
    try {
      return new Wallet(source.privateKey, provider);
    } catch {
      // No cause: the library's error could quote the key.
      const problem = "AGENT_PRIVATE_KEY is not a valid secp256k1 private key";
      throw new KeyError(problem, {
        variable: "AGENT_PRIVATE_KEY",
        problem,
        fix: "set AGENT_PRIVATE_KEY to 0x followed by the 64 hex digits of the node's key",
      });
    }
  }
  if (!source.keystore) {
    throw keyError(
      "AGENT_PRIVATE_KEY",
      "No node key",
      "set AGENT_KEYSTORE (with AGENT_KEYSTORE_PASSWORD_FILE) or AGENT_PRIVATE_KEY",
      ": ",
    );
  }
  if (!source.keystorePasswordFile) {
    throw keyError(
      "AGENT_KEYSTORE_PASSWORD_FILE",
      "AGENT_KEYSTORE is set but AGENT_KEYSTORE_PASSWORD_FILE is not",
      "point it at the password file",
      ": ",
    );
  }
  const modeOptions = { allowInsecure: source.allowInsecureKeyFileMode, logger };
  await checkKeyFileMode(source.keystore, "keystore", { ...modeOptions, variable: "AGENT_KEYSTORE" });
  await checkKeyFileMode(source.keystorePasswordFile, "keystore password file", {
    ...modeOptions,
    variable: "AGENT_KEYSTORE_PASSWORD_FILE",
  });
  const json = await Deno.readTextFile(source.keystore).catch((error) => {
    throw unreadable(source.keystore!, "keystore", "AGENT_KEYSTORE", error);
  });
  // Editors add a trailing newline; passwords with trailing line breaks are not supported.
  const password = (await Deno.readTextFile(source.keystorePasswordFile).catch((error) => {
    throw unreadable(source.keystorePasswordFile!, "keystore password file", "AGENT_KEYSTORE_PASSWORD_FILE", error);
  })).replace(/\r?\n$/, "");
  let wallet: AgentWallet;
  try {
    wallet = await Wallet.fromEncryptedJson(json, password);
  } catch (error) {
    // No cause: keep the library's error (and anything it quotes) out of logs.
    const wrong = /password/i.test((error as Error).message);
    const problem = `Cannot decrypt the keystore ${source.keystore}: ${
      wrong ? "wrong password" : "not a valid encrypted JSON keystore"
    }`;
    throw new KeyError(problem, {
      variable: wrong ? "AGENT_KEYSTORE_PASSWORD_FILE" : "AGENT_KEYSTORE",
      problem,
      fix: wrong
        ? `write the keystore's password to AGENT_KEYSTORE_PASSWORD_FILE (${source.keystorePasswordFile}) ` +
          "on one line, or point AGENT_KEYSTORE_PASSWORD_FILE at the right file"
        : "point AGENT_KEYSTORE at an encrypted JSON keystore (Web3 Secret Storage format)",
    });
  }
  return provider ? wallet.connect(provider) : wallet;
}

/** A {@linkcode KeyError} whose message is the problem and the fix joined by `joiner`. */
function keyError(variable: string, problem: string, fix: string, joiner: string): KeyError {
  return new KeyError(`${problem}${joiner}${fix}`, { variable, problem, fix });
}

/** A key file that cannot be stat'ed or read (missing, not readable by this user, outside the permission set). */
function unreadable(path: string, what: string, variable: string, error: unknown): KeyError {
  const problem = `Cannot read the ${what} ${path}: ${(error as Error).message}`;
  return new KeyError(problem, {
    variable,
    problem,
    fix: `check ${variable}: the file must exist and be readable by the agent's user`,
    cause: error,
  });
}
