/** The node's key: from AGENT_PRIVATE_KEY or an encrypted JSON keystore, with file-mode checks. Never logged. */
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
 * Refuses a file holding key material that group or others can read. With `allowInsecure` it only warns.
 * `what` names the file for people ("keystore", "keystore password file", ".env file").
 */
export async function checkKeyFileMode(
  path: string,
  what: string,
  options: { allowInsecure: boolean; logger?: Logger },
): Promise<void> {
  let mode: number | null;
  try {
    mode = (await Deno.stat(path)).mode;
  } catch (error) {
    throw new ChainError(`Cannot read the ${what} ${path}: ${(error as Error).message}`);
  }
  // Windows has no unix modes; nothing to check there.
  if (mode === null || (mode & 0o077) === 0) return;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
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
  throw new ChainError(
    `The ${what} ${path} is readable by group/others (mode ${octal}); run "chmod 600 ${path}" ` +
      `(or set ALLOW_INSECURE_KEY_FILE_MODE=true on a development machine)`,
  );
}

/** For the CLI: refuses a `.env` file that holds AGENT_PRIVATE_KEY and is readable by group/others. */
export async function checkEnvFileMode(
  envFile: Pick<EnvFile, "path" | "entries">,
  options: { allowInsecure: boolean; logger?: Logger },
): Promise<void> {
  const key = envFile.entries.get("AGENT_PRIVATE_KEY");
  if (!key || key.value.trim() === "") return;
  await checkKeyFileMode(envFile.path, ".env file (it holds AGENT_PRIVATE_KEY)", options);
}

/** Loads the node's wallet; throws {@linkcode ChainError} with a fix in the message. The key is never in a message. */
export async function loadWallet(
  source: KeySource,
  options: { provider?: Provider; logger?: Logger } = {},
): Promise<AgentWallet> {
  const { provider, logger } = options;
  if (source.privateKey && source.keystore) {
    throw new ChainError("Both AGENT_PRIVATE_KEY and AGENT_KEYSTORE are set: keep only one");
  }
  if (source.privateKey) {
    try {
      return new Wallet(source.privateKey, provider);
    } catch {
      // No cause: the library's error could quote the key.
      throw new ChainError("AGENT_PRIVATE_KEY is not a valid secp256k1 private key");
    }
  }
  if (!source.keystore) {
    throw new ChainError(
      "No node key: set AGENT_KEYSTORE (with AGENT_KEYSTORE_PASSWORD_FILE) or AGENT_PRIVATE_KEY",
    );
  }
  if (!source.keystorePasswordFile) {
    throw new ChainError(
      "AGENT_KEYSTORE is set but AGENT_KEYSTORE_PASSWORD_FILE is not: point it at the password file",
    );
  }
  const modeOptions = { allowInsecure: source.allowInsecureKeyFileMode, logger };
  await checkKeyFileMode(source.keystore, "keystore", modeOptions);
  await checkKeyFileMode(source.keystorePasswordFile, "keystore password file", modeOptions);
  const json = await Deno.readTextFile(source.keystore);
  // Editors add a trailing newline; passwords with trailing line breaks are not supported.
  const password = (await Deno.readTextFile(source.keystorePasswordFile)).replace(/\r?\n$/, "");
  let wallet: AgentWallet;
  try {
    wallet = await Wallet.fromEncryptedJson(json, password);
  } catch (error) {
    const detail = /password/i.test((error as Error).message)
      ? "wrong password"
      : "not a valid encrypted JSON keystore";
    throw new ChainError(`Cannot decrypt the keystore ${source.keystore}: ${detail}`);
  }
  return provider ? wallet.connect(provider) : wallet;
}
