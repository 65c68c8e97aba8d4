/** Composition root and the one place that sets the exit code. */
import { runCli } from "./cli/main.ts";
import { COMMANDS, DEFAULT_COMMAND } from "./cli/commands.ts";

if (import.meta.main) {
  const controller = new AbortController();
  const force = new AbortController();
  // The first signal drains; the second stops at once.
  const stop = () => (controller.signal.aborted ? force : controller).abort(new Error("signal"));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const encoder = new TextEncoder();
  Deno.exitCode = await runCli(Deno.args, {
    env: (name) => Deno.env.get(name),
    readTextFile: (path) => Deno.readTextFile(path),
    stdout: (line) => Deno.stdout.writeSync(encoder.encode(line + "\n")),
    stderr: (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
    signal: controller.signal,
    force: force.signal,
  }, { commands: COMMANDS, fallback: DEFAULT_COMMAND });
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
}
