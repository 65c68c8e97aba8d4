/** Composition root and the one place that sets the exit code. */
import { runCli } from "./cli/main.ts";
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
