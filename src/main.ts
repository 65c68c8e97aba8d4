/** Composition root and the one place that sets the exit code. */
import { runCli } from "./cli/main.ts";
import { COMMANDS, DEFAULT_COMMAND } from "./cli/commands.ts";

if (import.meta.main) {
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("signal"));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const encoder = new TextEncoder();
  Deno.exitCode = await runCli(Deno.args, {
    env: (name) => Deno.env.get(name),
    readTextFile: (path) => Deno.readTextFile(path),
    stdout: (line) => Deno.stdout.writeSync(encoder.encode(line + "\n")),
    stderr: (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
    signal: controller.signal,
  }, { commands: COMMANDS, fallback: DEFAULT_COMMAND });
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
}
