/** Composition root and the one place that sets the exit code. */
import { EXIT, runCli } from "./cli/main.ts";
import { deniedAccess, permissionsHint } from "./permissions/mod.ts";
import { COMMANDS, DEFAULT_COMMAND } from "./cli/commands.ts";

if (import.meta.main) {
  const controller = new AbortController();
  const force = new AbortController();
  // The first signal drains; a second one stops at once. A repeat within a second is the same request delivered twice
  // (a terminal's Ctrl-C reaches both a supervisor such as `deno run --watch` and the agent, which passes it on).
  let firstAt = 0;
  const stop = () => {
    if (!controller.signal.aborted) {
      firstAt = Date.now();
      controller.abort(new Error("signal"));
    } else if (Date.now() - firstAt >= 1000) force.abort(new Error("second signal"));
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const encoder = new TextEncoder();
  const stderr = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));
  try {
    Deno.exitCode = await runCli(Deno.args, {
      env: (name) => Deno.env.get(name),
      readTextFile: (path) => Deno.readTextFile(path),
      stdout: (line) => Deno.stdout.writeSync(encoder.encode(line + "\n")),
      stderr,
      signal: controller.signal,
      force: force.signal,
    }, { commands: COMMANDS, fallback: DEFAULT_COMMAND });
  } catch (error) {
    // The CLI explains sandbox refusals against the configuration; one raised before it was loaded still gets the
    // command that prints the flags, and exit 78 (not retried by systemd), instead of Deno's bare message and exit 1.
    if (!deniedAccess(error)) throw error;
    stderr(`Permission denied: ${(error as Error).message}.\n  Fix: ${permissionsHint({})}`);
    Deno.exitCode = EXIT.config;
  }
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
}
