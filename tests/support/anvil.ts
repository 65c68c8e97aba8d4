/** Starts a real anvil chain on a free port (npm:@foundry-rs/anvil), with stop/restart and dispose. */
import { freePort, waitForPort, waitForPortClosed } from "./ports.ts";
import { stopChild } from "./service.ts";

/** The anvil npm package the tests and the local network run. */
export const ANVIL_PACKAGE = "npm:@foundry-rs/anvil@1.7.1";

/** anvil's well-known development accounts (mnemonic "test test … junk"): public test keys, never secrets. */
export const ANVIL_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
] as const;

/** Options for {@linkcode Anvil.start}. */
export interface AnvilOptions {
  port?: number;
  chainId?: number;
  /** Seconds between blocks; default: mine on every transaction. */
  blockTime?: number;
  /** Extra arguments. */
  args?: string[];
  /** Persist chain state in this file across restarts (`--state`). */
  stateFile?: string;
  /** Run in a session of its own, so a terminal's Ctrl-C reaches only its owner (`deno task dev`). */
  detached?: boolean;
}

/** An anvil child process owned by a test. */
export class Anvil implements AsyncDisposable {
  readonly port: number;
  readonly options: AnvilOptions;
  #child?: Deno.ChildProcess;

  private constructor(port: number, options: AnvilOptions) {
    this.port = port;
    this.options = options;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts anvil and waits until it answers. */
  static async start(options: AnvilOptions = {}): Promise<Anvil> {
    const anvil = new Anvil(options.port ?? freePort(), options);
    await anvil.#spawn();
    return anvil;
  }

  async #spawn(): Promise<void> {
    const args = ["run", "-A", ANVIL_PACKAGE, "--host", "127.0.0.1", "--port", String(this.port), "--silent"];
    if (this.options.chainId !== undefined) args.push("--chain-id", String(this.options.chainId));
    if (this.options.blockTime !== undefined) args.push("--block-time", String(this.options.blockTime));
    if (this.options.stateFile) args.push("--state", this.options.stateFile);
    args.push(...(this.options.args ?? []));
    this.#child = new Deno.Command(Deno.execPath(), {
      args,
      stdout: "null",
      stderr: "null",
      detached: this.options.detached,
    }).spawn();
    try {
      await waitForPort(this.port, 60_000, `anvil on ${this.port}`);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Sends one JSON-RPC call (for test control: `evm_setAutomine`, `evm_mine`, …). */
  async rpc<T = unknown>(method: string, params: unknown[] = []): Promise<T> {
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = await res.json() as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`anvil ${method}: ${body.error.message}`);
    return body.result as T;
  }

  /** Stops anvil and waits until its port closes. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    await stopChild(child, "SIGTERM", 3000);
    await waitForPortClosed(this.port).catch(() => {});
  }

  /** Starts a stopped anvil again on the same port. */
  async start(): Promise<void> {
    if (!this.#child) await this.#spawn();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
