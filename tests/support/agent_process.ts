/** The agent as a child process (`deno run src/main.ts run`), so tests can signal it, kill -9 it and restart it. */
import { AGENT_RUNTIME_ENV, AGENT_RUNTIME_FLAGS } from "../../src/runtime_flags.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** Options of {@linkcode AgentProcess.start}. */
export interface AgentProcessOptions {
  env: Record<string, string>;
  /** Deno permission flags; default `-A`. */
  permissions?: string[];
  /** Extra environment for the deno process itself (e.g. DENO_AUDIT_PERMISSIONS). */
  denoEnv?: Record<string, string>;
  cwd?: string;
}

/** A running agent process with its log lines captured. */
export class AgentProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Every stderr line (the agent logs JSON lines there). */
  readonly lines: string[] = [];
  readonly stdout: string[] = [];
  #waiters: { test: (rec: Record<string, unknown>) => boolean; resolve: (rec: Record<string, unknown>) => void }[] = [];
  #done: Promise<void>;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#done = Promise.all([this.#pump(child.stderr, this.lines, true), this.#pump(child.stdout, this.stdout)])
      .then(() => {});
  }

  /** Starts the agent; it only inherits the variables given (plus PATH, HOME and the Deno cache). */
  static start(options: AgentProcessOptions): AgentProcess {
    const inherit: Record<string, string> = {};
    for (const k of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
      const v = Deno.env.get(k);
      if (v) inherit[k] = v;
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...(options.permissions ?? ["-A"]), ...AGENT_RUNTIME_FLAGS, MAIN, "run"],
      env: { ...inherit, ...AGENT_RUNTIME_ENV, ...options.denoEnv, ...options.env, NO_COLOR: "1" },
      clearEnv: true,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new AgentProcess(child);
  }

  async #pump(stream: ReadableStream<Uint8Array>, into: string[], json = false): Promise<void> {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        into.push(line);
        if (json && Deno.env.get("AGENT_LOG_ECHO")) console.error(line);
        if (json) this.#check(line);
      }
    }
    if (buf) into.push(buf);
  }

  #check(line: string): void {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line);
    } catch {
      return;
    }
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test(rec)) return true;
      w.resolve(rec);
      return false;
    });
  }

  /** Parsed JSON log records so far. */
  records(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
  }

  /** Waits for a log record matching `test` (already written ones count), or throws after `timeoutMs`. */
  waitFor(test: (rec: Record<string, unknown>) => boolean, timeoutMs = 60_000, what = "log record") {
    const seen = this.records().find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last lines:\n${this.tail()}`));
      }, timeoutMs);
      this.#waiters.push({
        test,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      this.child.status.then((s) => {
        clearTimeout(timer);
        reject(new Error(`agent exited (code ${s.code}) while waiting for ${what}; last lines:\n${this.tail()}`));
      });
    });
  }

  /** Waits until the agent logs "agent ready". */
  ready(timeoutMs = 90_000): Promise<Record<string, unknown>> {
    return this.waitFor((r) => r.msg === "agent ready", timeoutMs, "agent ready");
  }

  /** The last log lines, for failure messages. */
  tail(n = 25): string {
    return this.lines.slice(-n).join("\n");
  }

  /** Sends a signal. */
  signal(sig: Deno.Signal): void {
    try {
      this.child.kill(sig);
    } catch { /* already gone */ }
  }

  /** Waits for exit and all output. */
  async exit(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#done;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.signal("SIGKILL");
    await this.exit();
  }
}
