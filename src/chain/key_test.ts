import assert from "node:assert/strict";
import { encryptKeystoreJson, Wallet } from "ethers";
import { parseEnvFile } from "../config/mod.ts";
import { Logger, MemoryWriter } from "../log/mod.ts";
import { checkEnvFileMode, KeyError, loadWallet } from "./key.ts";

// A well-known public development key (anvil account #2): not a secret.
const KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const ADDRESS = new Wallet(KEY).address;

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chain_key_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeKeystore(dir: string, mode: number, passwordMode = 0o600) {
  const keystore = `${dir}/keystore.json`;
  const passwordFile = `${dir}/password`;
  // Light scrypt parameters keep the test fast; production keystores use the library's defaults.
  const wallet = new Wallet(KEY);
  const json = await encryptKeystoreJson({ address: wallet.address, privateKey: KEY }, "correct horse", {
    scrypt: { N: 1 << 10 },
  });
  await Deno.writeTextFile(keystore, json, { mode });
  await Deno.chmod(keystore, mode);
  await Deno.writeTextFile(passwordFile, "correct horse\n");
  await Deno.chmod(passwordFile, passwordMode);
  return { keystore, passwordFile };
}

Deno.test("AGENT_PRIVATE_KEY loads the wallet of that key", async () => {
  const wallet = await loadWallet({ privateKey: KEY, allowInsecureKeyFileMode: false });
  assert.equal(wallet.address, ADDRESS);
});

Deno.test("an encrypted keystore with mode 600 and its password file load the same wallet", async () => {
  await withDir(async (dir) => {
    const { keystore, passwordFile } = await writeKeystore(dir, 0o600);
    const wallet = await loadWallet({ keystore, keystorePasswordFile: passwordFile, allowInsecureKeyFileMode: false });
    assert.equal(wallet.address, ADDRESS);
  });
});

Deno.test("a keystore readable by group/others is refused with the chmod fix", async () => {
  await withDir(async (dir) => {
    const { keystore, passwordFile } = await writeKeystore(dir, 0o644);
    await assert.rejects(
      () => loadWallet({ keystore, keystorePasswordFile: passwordFile, allowInsecureKeyFileMode: false }),
      (e: Error) => e.name === "KeyError" && e.message.includes(`chmod 600 ${keystore}`) && e.message.includes("0644"),
    );
  });
});

Deno.test("a password file readable by others is refused; the override accepts it with a warning", async () => {
  await withDir(async (dir) => {
    const { keystore, passwordFile } = await writeKeystore(dir, 0o600, 0o604);
    await assert.rejects(
      () => loadWallet({ keystore, keystorePasswordFile: passwordFile, allowInsecureKeyFileMode: false }),
      (e: Error) => e.message.includes(`chmod 600 ${passwordFile}`),
    );
    const writer = new MemoryWriter();
    const wallet = await loadWallet(
      { keystore, keystorePasswordFile: passwordFile, allowInsecureKeyFileMode: true },
      { logger: new Logger({ writer }) },
    );
    assert.equal(wallet.address, ADDRESS);
    assert.match(writer.text(), /ALLOW_INSECURE_KEY_FILE_MODE/);
  });
});

Deno.test("a wrong keystore password is a clear error that never shows the password", async () => {
  await withDir(async (dir) => {
    const { keystore, passwordFile } = await writeKeystore(dir, 0o600);
    await Deno.writeTextFile(passwordFile, "wrong battery");
    await assert.rejects(
      () => loadWallet({ keystore, keystorePasswordFile: passwordFile, allowInsecureKeyFileMode: false }),
      (e: Error) => /wrong password/.test(e.message) && !e.message.includes("battery") && !e.message.includes("horse"),
    );
  });
});

Deno.test("each key problem names its setting and a fix of its own: wrong password, open keystore", async () => {
  await withDir(async (dir) => {
    const { keystore, passwordFile } = await writeKeystore(dir, 0o600);
    await Deno.writeTextFile(passwordFile, "wrong battery");
    const wrong = await loadWallet({ keystore, keystorePasswordFile: passwordFile, allowInsecureKeyFileMode: false })
      .then(() => undefined, (e) => e);
    assert.ok(wrong instanceof KeyError, String(wrong));
    assert.equal(wrong.variable, "AGENT_KEYSTORE_PASSWORD_FILE");
    assert.match(wrong.problem, /wrong password/);
    assert.match(wrong.fix, new RegExp(`AGENT_KEYSTORE_PASSWORD_FILE \\(${passwordFile}\\)`));
    assert.ok(!wrong.fix.includes("PINATA_JWT") && !wrong.fix.includes("battery"));
    await Deno.chmod(keystore, 0o640);
    const open = await loadWallet({ keystore, keystorePasswordFile: passwordFile, allowInsecureKeyFileMode: false })
      .then(() => undefined, (e) => e);
    assert.ok(open instanceof KeyError);
    assert.equal(open.variable, "AGENT_KEYSTORE");
    assert.match(open.fix, new RegExp(`^chmod 600 ${keystore} `));
  });
});

Deno.test("no key, or both a key and a keystore, are refused with what to set", async () => {
  await assert.rejects(() => loadWallet({ allowInsecureKeyFileMode: false }), /set AGENT_KEYSTORE/);
  await assert.rejects(
    () => loadWallet({ privateKey: KEY, keystore: "/x", allowInsecureKeyFileMode: false }),
    /keep only one/,
  );
  await assert.rejects(() => loadWallet({ keystore: "/x", allowInsecureKeyFileMode: false }), /PASSWORD_FILE/);
});

Deno.test("an out-of-range private key is refused without quoting it", async () => {
  const zero = `0x${"0".repeat(64)}`;
  await assert.rejects(
    () => loadWallet({ privateKey: zero, allowInsecureKeyFileMode: false }),
    (e: Error) =>
      /not a valid secp256k1 private key/.test(e.message) && !e.message.includes("0".repeat(64)) && !e.cause,
  );
});

Deno.test(".env holding AGENT_PRIVATE_KEY readable by others is refused; without a key its mode is not checked", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/.env`;
    await Deno.writeTextFile(path, `AGENT_PRIVATE_KEY=${KEY}\n`);
    await Deno.chmod(path, 0o644);
    const withKey = parseEnvFile(path, await Deno.readTextFile(path));
    await assert.rejects(
      () => checkEnvFileMode(withKey, { allowInsecure: false }),
      (e: Error) => e.message.includes(`chmod 600 ${path}`) && !e.message.includes(KEY.slice(2)),
    );
    await checkEnvFileMode(withKey, { allowInsecure: true });
    await Deno.chmod(path, 0o600);
    await checkEnvFileMode(withKey, { allowInsecure: false });
    await Deno.chmod(path, 0o644);
    await checkEnvFileMode(parseEnvFile(path, "LOG_LEVEL=debug\n"), { allowInsecure: false });
  });
});
