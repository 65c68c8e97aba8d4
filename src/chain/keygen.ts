/**
 * `keygen`: creates a node key. With `--keystore PATH` it writes an encrypted JSON keystore and a random password
 * file (both mode 0600, never over an existing file without `--force`) and prints only the address and the `.env`
 * lines; without it, it prints the key itself, once, with a warning.
 */
import { resolve } from "node:path";
import { Wallet } from "ethers";
import type { Command, CommandContext } from "../command.ts";
import { ChainError } from "./errors.ts";

/** Exit codes of `keygen`. */
export const KEYGEN_EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The password file beside a keystore: `keystore.json` → `keystore.password`, `key` → `key.password`. */
export function defaultPasswordFile(keystore: string): string {
  return `${keystore.replace(/\.json$/i, "")}.password`;
}

/** A random keystore password: 32 bytes, base64url (43 characters, no line break, nothing to quote). */
export function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** What `keygen --keystore` wrote. */
export interface WrittenKeystore {
  address: string;
  keystore: string;
  passwordFile: string;
}

/** Options of {@linkcode writeKeystore}. */
export interface WriteKeystoreOptions {
  /** Replace existing files (the key they hold is lost). */
  force?: boolean;
  /** The key to store; default a new random one. */
  wallet?: Wallet;
  /** Told when the (slow) encryption starts. */
  onEncrypt?: () => void;
}

/**
 * Encrypts a new key (ethers' scrypt keystore, as AGENT_KEYSTORE reads it) with a random password and writes both
 * files with mode 0600. Throws {@linkcode ChainError} when a file exists (without `force`) or cannot be written;
 * nothing is left behind then.
 */
export async function writeKeystore(
  keystore: string,
  passwordFile: string,
  options: WriteKeystoreOptions = {},
): Promise<WrittenKeystore> {
  const paths = { keystore: resolve(keystore), passwordFile: resolve(passwordFile) };
  if (paths.keystore === paths.passwordFile) throw new ChainError("The keystore and its password file must differ");
  if (!options.force) {
    for (const path of [paths.keystore, paths.passwordFile]) {
      if (await exists(path)) {
        throw new ChainError(
          `${path} already exists; keygen does not overwrite it (--force replaces it, and the key it holds is lost)`,
        );
      }
    }
  }
  const wallet = options.wallet ?? Wallet.createRandom();
  const password = randomPassword();
  options.onEncrypt?.();
  const json = await wallet.encrypt(password);
  await writeSecretFile(paths.passwordFile, `${password}\n`, options.force === true);
  try {
    await writeSecretFile(paths.keystore, json, options.force === true);
  } catch (error) {
    await Deno.remove(paths.passwordFile).catch(() => {});
    throw error;
  }
  return { address: wallet.address, ...paths };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw cannot("check", path, error);
  }
}

/** Creates `path` with mode 0600 (`createNew`: never through an existing file or symlink) and writes `text`. */
async function writeSecretFile(path: string, text: string, replace: boolean): Promise<void> {
  try {
    if (replace) {
      await Deno.remove(path).catch((e) => e instanceof Deno.errors.NotFound ? undefined : Promise.reject(e));
    }
    await Deno.writeTextFile(path, text, { createNew: true, mode: 0o600 });
    // The mode given at creation is masked by the umask; it can only lose bits, but say it exactly.
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new ChainError(`${path} already exists; keygen does not overwrite it (--force replaces it)`);
    }
    throw cannot("write", path, error);
  }
}

/** The error for a file keygen cannot touch; the release binary's permission set is the usual cause. */
function cannot(what: string, path: string, error: unknown): ChainError {
  const message = (error as Error).message;
  if (error instanceof Deno.errors.NotCapable) {
    return new ChainError(
      `Cannot ${what} ${path}: ${message}. The release binary may read and write only under ./data: run ` +
        `keygen --keystore ./data/keystore.json, then move both files (install -m 0600 …)`,
    );
  }
  return new ChainError(`Cannot ${what} ${path}: ${message}`);
}

/** `lamda-node-agent keygen [--keystore PATH] [--password-file PATH] [--force]`. */
export const keygenCommand: Command = {
  name: "keygen",
  summary: "create a node key: an encrypted keystore and its password file (--keystore), or print a new key",
  description: "With --keystore PATH: writes an encrypted JSON keystore to PATH and a random password to " +
    "--password-file (default: PATH with .json replaced by .password), both mode 0600, and prints the address and " +
    "the AGENT_KEYSTORE / AGENT_KEYSTORE_PASSWORD_FILE lines for the .env; the key itself is never printed. " +
    "Existing files are not overwritten unless --force is given (the key they hold is then lost).\n" +
    "Without --keystore: prints a new key as an AGENT_PRIVATE_KEY line. It is secret: whoever sees it controls " +
    "the node's funds and identity.\nNeeds no configuration.",
  options: {
    keystore: { type: "string", placeholder: "PATH", description: "write an encrypted keystore here" },
    "password-file": { type: "string", placeholder: "PATH", description: "write the keystore password here" },
    force: { type: "boolean", description: "replace existing files" },
    json: { type: "boolean", description: "print JSON (address and paths; never the key)" },
  },
  // No configuration: a first key is made before any .env exists.
  usesConfig: false,
  run: (ctx) => keygen(ctx),
};

async function keygen(ctx: CommandContext): Promise<number> {
  const o = ctx.options;
  const usage = (message: string) => {
    ctx.logger.error(`keygen: ${message} (see keygen --help)`);
    return KEYGEN_EXIT.usage;
  };
  if (ctx.args.length) return usage(`unexpected argument ${JSON.stringify(ctx.args[0])}`);
  const keystore = typeof o.keystore === "string" && o.keystore !== "" ? o.keystore : undefined;
  if (!keystore) {
    if (o["password-file"] !== undefined || o.force) return usage("--password-file and --force need --keystore PATH");
    if (o.json) return usage("--json needs --keystore PATH (a printed key is not JSON output)");
    const wallet = Wallet.createRandom();
    ctx.logger.warn(
      "The key printed below is secret: whoever sees it controls the node's funds and identity. Put it only in a " +
        ".env of mode 0600; keygen --keystore PATH writes an encrypted keystore instead and never prints the key.",
    );
    ctx.print(`address ${wallet.address}`);
    ctx.print(`AGENT_PRIVATE_KEY=${wallet.privateKey}`);
    return KEYGEN_EXIT.ok;
  }
  const passwordFile = typeof o["password-file"] === "string" && o["password-file"] !== ""
    ? o["password-file"]
    : defaultPasswordFile(keystore);
  let written: WrittenKeystore;
  try {
    written = await writeKeystore(keystore, passwordFile, {
      force: o.force === true,
      onEncrypt: () => ctx.logger.info("Encrypting a new key (scrypt: a few seconds)"),
    });
  } catch (error) {
    if (!(error instanceof ChainError)) throw error;
    ctx.logger.error(`keygen: ${error.message}`);
    return KEYGEN_EXIT.failed;
  }
  if (o.json) {
    ctx.print(JSON.stringify({
      address: written.address,
      keystore: written.keystore,
      password_file: written.passwordFile,
    }));
    return KEYGEN_EXIT.ok;
  }
  ctx.print(`address ${written.address}`);
  ctx.print(`wrote   ${written.keystore} (encrypted key) and ${written.passwordFile} (its password), mode 0600`);
  ctx.print("For the .env:");
  ctx.print(`AGENT_KEYSTORE=${written.keystore}`);
  ctx.print(`AGENT_KEYSTORE_PASSWORD_FILE=${written.passwordFile}`);
  return KEYGEN_EXIT.ok;
}
