import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { runCli } from "../cli/main.ts";
import { COMMANDS, DEFAULT_COMMAND } from "../cli/commands.ts";
import { defaultPasswordFile, randomPassword } from "./keygen.ts";
import { loadWallet } from "./key.ts";

/** Runs the real CLI with no environment and no `.env`, capturing both streams. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    env: () => undefined,
    readTextFile: (p) => Deno.readTextFile(p),
    stdout: (l) => void out.push(l),
    stderr: (l) => void err.push(l),
    signal: new AbortController().signal,
  }, { commands: COMMANDS, fallback: DEFAULT_COMMAND });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("the password file sits beside the keystore, as docs/install.md lays them out", () => {
  assert.equal(defaultPasswordFile("/etc/lamda-node-agent/keystore.json"), "/etc/lamda-node-agent/keystore.password");
  assert.equal(defaultPasswordFile("node.key"), "node.key.password");
  const a = randomPassword();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, randomPassword());
});

Deno.test({
  name: "keygen --keystore writes a 0600 keystore the agent decrypts to the printed address, and never prints the key",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const keystore = `${dir}/keystore.json`;
      const passwordFile = `${dir}/keystore.password`;
      // Run from a directory without a .env and with no environment: keygen needs no configuration.
      const r = await cli(["keygen", "--keystore", keystore]);
      assert.equal(r.code, 0, r.err);
      const address = r.out.match(/^address (0x[0-9a-fA-F]{40})$/m)?.[1];
      assert.ok(address, r.out);
      assert.match(r.out, new RegExp(`^AGENT_KEYSTORE=${keystore}$`, "m"));
      assert.match(r.out, new RegExp(`^AGENT_KEYSTORE_PASSWORD_FILE=${passwordFile}$`, "m"));
      assert.equal(await mode(keystore), 0o600);
      assert.equal(await mode(passwordFile), 0o600);

      // The agent's own loader (with its mode checks) opens it: the key is the printed address's.
      const wallet = await loadWallet({
        keystore,
        keystorePasswordFile: passwordFile,
        allowInsecureKeyFileMode: false,
      });
      assert.equal(wallet.address, address);
      const secret = wallet.privateKey.slice(2).toLowerCase();
      assert.ok(!`${r.out}\n${r.err}`.toLowerCase().includes(secret), "the key was printed");
      const password = (await Deno.readTextFile(passwordFile)).trim();
      assert.ok(!`${r.out}\n${r.err}`.includes(password), "the password was printed");

      // Existing files are kept unless --force; --force makes a new key.
      const before = await Deno.readTextFile(keystore);
      const again = await cli(["keygen", "--keystore", keystore]);
      assert.equal(again.code, 1);
      assert.match(again.err, /already exists; keygen does not overwrite it/);
      assert.equal(await Deno.readTextFile(keystore), before);
      await Deno.remove(passwordFile);
      const half = await cli(["keygen", "--keystore", keystore, "--password-file", `${dir}/other.password`]);
      assert.equal(half.code, 1, "one existing file is enough to refuse");
      await assert.rejects(() => Deno.stat(`${dir}/other.password`), Deno.errors.NotFound);

      const forced = await cli(["keygen", "--keystore", keystore, "--password-file", `${dir}/p`, "--force", "--json"]);
      assert.equal(forced.code, 0, forced.err);
      const json = JSON.parse(forced.out);
      assert.notEqual(json.address, address);
      assert.deepEqual(Object.keys(json).sort(), ["address", "keystore", "password_file"]);
      assert.equal(await mode(keystore), 0o600);
      assert.equal(await mode(`${dir}/p`), 0o600);
      const reloaded = await loadWallet({
        keystore,
        keystorePasswordFile: `${dir}/p`,
        allowInsecureKeyFileMode: false,
      });
      assert.equal(reloaded.address, json.address);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("keygen without --keystore prints one new key with its address and a warning that it is secret", async () => {
  const r = await cli(["keygen"]);
  assert.equal(r.code, 0, r.err);
  const address = r.out.match(/^address (0x[0-9a-fA-F]{40})$/m)?.[1];
  const key = r.out.match(/^AGENT_PRIVATE_KEY=(0x[0-9a-f]{64})$/m)?.[1];
  assert.ok(address && key, "address and key lines");
  assert.equal(new Wallet(key).address, address);
  assert.match(r.err, /secret/);
  assert.ok(!r.err.includes(key.slice(2)), "the warning does not repeat the key");
  const other = await cli(["keygen"]);
  assert.ok(other.out !== r.out, "each run makes a new key");
});

Deno.test("keygen refuses options that need --keystore, and a password file that is the keystore", async () => {
  for (const argv of [["keygen", "--force"], ["keygen", "--password-file", "p"], ["keygen", "--json"]]) {
    const r = await cli(argv);
    assert.equal(r.code, 2, argv.join(" "));
    assert.match(r.err, /need[s]? --keystore/);
  }
  const dir = await Deno.makeTempDir();
  try {
    const same = await cli(["keygen", "--keystore", `${dir}/k`, "--password-file", `${dir}/k`]);
    assert.equal(same.code, 1);
    assert.match(same.err, /must differ/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
