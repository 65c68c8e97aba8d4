/** Starts a real nats-server (JetStream on) on a free port; stop, restart (same port and store), dispose. */
import { freePort, waitForPort, waitForPortClosed } from "./ports.ts";
import { stopChild, which } from "./service.ts";

/** Why nats-server cannot run here, or undefined when it can. */
export function natsServerMissing(): string | undefined {
  return which("nats-server") ? undefined : "nats-server is not installed (apt-get install -y nats-server)";
}

/** Options for {@linkcode NatsServer.start}. */
export interface NatsServerOptions {
  /** JetStream on (default true). */
  jetstream?: boolean;
  /** Fixed client port; default a free one. */
  port?: number;
  /** Extra command-line arguments (e.g. cluster routes). */
  args?: string[];
  /** Contents of a config file passed with `-c`. */
  config?: string;
  /** Run in a session of its own, so a terminal's Ctrl-C reaches only its owner (`deno task dev`). */
  detached?: boolean;
}

/** A nats-server child process owned by a test. */
export class NatsServer implements AsyncDisposable {
  readonly port: number;
  readonly storeDir: string;
  readonly options: NatsServerOptions;
  #child?: Deno.ChildProcess;
  #log: string;

  private constructor(port: number, storeDir: string, options: NatsServerOptions) {
    this.port = port;
    this.storeDir = storeDir;
    this.options = options;
    this.#log = `${storeDir}/nats.log`;
  }

  /** `nats://127.0.0.1:<port>`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts a server and waits until it accepts connections. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const dir = await Deno.makeTempDir({ prefix: "lamda-nats-" });
    const server = new NatsServer(options.port ?? freePort(), dir, options);
    await server.#spawn();
    return server;
  }

  async #spawn(): Promise<void> {
    const args = ["-a", "127.0.0.1", "-p", String(this.port), "-l", this.#log];
    if (this.options.jetstream ?? true) args.push("-js", "-sd", `${this.storeDir}/js`);
    if (this.options.config !== undefined) {
      await Deno.writeTextFile(`${this.storeDir}/nats.conf`, this.options.config);
      args.push("-c", `${this.storeDir}/nats.conf`);
    }
    args.push(...(this.options.args ?? []));
    this.#child = new Deno.Command("nats-server", {
      args,
      stdout: "null",
      stderr: "null",
      detached: this.options.detached,
    }).spawn();
    try {
      await waitForPort(this.port, 15_000, `nats-server on ${this.port}`);
    } catch (error) {
      await this.stop();
      const log = await Deno.readTextFile(this.#log).catch(() => "");
      throw new Error(`nats-server did not start: ${log.slice(-2000)}`, { cause: error });
    }
  }

  /** Whether the server process is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Stops the server (SIGTERM, then SIGKILL) and waits until the port is closed. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    await stopChild(child);
    await waitForPortClosed(this.port).catch(() => {});
  }

  /** Kills the server abruptly (SIGKILL). */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child) await stopChild(child, "SIGKILL");
  }

  /** Stops and starts again on the same port with the same JetStream store. */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    await this.#spawn();
  }

  /** Starts a stopped server again. */
  async start(): Promise<void> {
    if (!this.#child) await this.#spawn();
  }

  /** The server's log so far. */
  async log(): Promise<string> {
    return await Deno.readTextFile(this.#log).catch(() => "");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.storeDir, { recursive: true }).catch(() => {});
  }
}
