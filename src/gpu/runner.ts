/** Runs nvidia-smi: an interface for tests and the one real implementation over `Deno.Command`. */
import { GpuError, NOT_FOUND_MESSAGE } from "./errors.ts";
import { formatMs } from "./format.ts";

/** What one nvidia-smi invocation printed. */
export interface NvidiaSmiOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs nvidia-smi with an argument list. Throws {@linkcode GpuError} when it cannot run or does not finish in time. */
export interface NvidiaSmiRunner {
  run(args: string[], options?: { signal?: AbortSignal }): Promise<NvidiaSmiOutput>;
}

/** Options for {@linkcode CommandNvidiaSmiRunner}. */
export interface CommandRunnerOptions {
  /** Executable name (looked up on PATH) or path. Default `nvidia-smi`. */
  path?: string;
  /** Kill the process and fail after this many milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Extra environment for the child (e.g. PATH in tests); `LC_ALL=C` is always set. */
  env?: Record<string, string>;
}

/** How long to wait for a killed nvidia-smi to be reaped before giving up on it. */
const REAP_GRACE_MS = 2_000;

/** The real runner: `Deno.Command` with an argument array (no shell), a timeout and `LC_ALL=C`. */
export class CommandNvidiaSmiRunner implements NvidiaSmiRunner {
  readonly path: string;
  readonly timeoutMs: number;
  readonly #env: Record<string, string>;

  constructor(options: CommandRunnerOptions = {}) {
    this.path = options.path ?? "nvidia-smi";
    this.timeoutMs = options.timeoutMs ?? 10_000;
    // LC_ALL=C keeps decimal points and messages in the form the parser expects.
    this.#env = { ...options.env, LC_ALL: "C" };
  }

  /** Runs nvidia-smi once. */
  async run(args: string[], options: { signal?: AbortSignal } = {}): Promise<NvidiaSmiOutput> {
    options.signal?.throwIfAborted();
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.path, {
        args,
        env: this.#env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new GpuError("not_found", NOT_FOUND_MESSAGE, { cause: err });
      if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
        throw new GpuError(
          "permission_denied",
          `nvidia-smi could not be started (${this.path}): permission denied — run the agent with ` +
            `--allow-run=${this.path} and make sure the file is executable`,
          { cause: err },
        );
      }
      throw new GpuError("failed", `nvidia-smi could not be started (${this.path}): ${(err as Error).message}`, {
        cause: err,
      });
    }

    let timedOut = false;
    let reapTimer: ReturnType<typeof setTimeout> | undefined;
    let giveUp!: () => void;
    // A process stuck in the kernel (a hung GPU) may not even die on SIGKILL: stop waiting shortly after the kill.
    const stuck = new Promise<"stuck">((resolve) => giveUp = () => resolve("stuck"));
    const kill = () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      reapTimer ??= setTimeout(giveUp, REAP_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, this.timeoutMs);
    options.signal?.addEventListener("abort", kill, { once: true });
    try {
      const result = await Promise.race([
        Promise.all([child.status, new Response(child.stdout).text(), new Response(child.stderr).text()]),
        stuck,
      ]);
      if (timedOut) throw timeoutError(this.timeoutMs);
      options.signal?.throwIfAborted();
      if (result === "stuck") throw new GpuError("failed", "nvidia-smi did not exit after it was killed");
      const [status, stdout, stderr] = result;
      return { code: status.code, stdout, stderr };
    } catch (err) {
      if (err instanceof GpuError) throw err;
      if (timedOut) throw timeoutError(this.timeoutMs, err);
      options.signal?.throwIfAborted();
      throw new GpuError("failed", `nvidia-smi failed to run: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
      clearTimeout(reapTimer);
      options.signal?.removeEventListener("abort", kill);
    }
  }
}

function timeoutError(timeoutMs: number, cause?: unknown): GpuError {
  return new GpuError(
    "timeout",
    `nvidia-smi did not answer within ${formatMs(timeoutMs)}: the driver may be hung (look for Xid errors in ` +
      "`dmesg`) or a GPU may need a reset; raise NVIDIA_SMI_TIMEOUT if the host is only slow to answer",
    { cause },
  );
}
