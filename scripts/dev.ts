/**
 * `deno task dev`: the agent from source against the local network, restarted when a file under src/ changes.
 *
 * The agent and the services run in sessions of their own, so a terminal's Ctrl-C reaches only this script, which
 * stops things in order: the agent first (it drains like `run` does: a running job finishes or is reported, its
 * container removed), then the local services. A second Ctrl-C, a second or more later, tells the agent to stop its
 * running jobs now. A change under src/ restarts the agent the same way (SIGTERM, wait, start again).
 */
import { startDevnet } from "./devnet.ts";
import { AGENT_RUNTIME_ENV, AGENT_RUNTIME_FLAGS } from "../src/runtime_flags.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const print = (line: string) => console.log(line);
const net = await startDevnet(print, { detached: true });
if (!net) {
  Deno.exitCode = 1;
} else {
  // DEV_DATA_DIR moves the agent's state elsewhere (the dev test uses a scratch directory).
  const dataDir = Deno.env.get("DEV_DATA_DIR") ?? `${ROOT}data/dev`;
  await Deno.mkdir(dataDir, { recursive: true });
  const envFile = `${dataDir}/devnet.env`;
  const env = net.agentEnv(dataDir, { LOG_FORMAT: "pretty", LOG_LEVEL: "info" });
  await Deno.writeTextFile(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", {
    mode: 0o600,
  });
  print(`Agent config written to ${envFile}`);
  print("");
  print("Next steps, in another terminal:");
  print(
    `  deno run -A src/main.ts --env-file ${envFile} submit --image ${net.image} --input README.md --output-dir /tmp/out`,
  );
  print(`  curl -s http://${env.HTTP_ADDR}/metrics | grep lamda_   # metrics; /readyz and /healthz beside it`);
  print(`  jobs go to jobs.dispatch.${net.agentAddress} on ${net.nats.url}; statuses come on agent.status`);
  print("Ctrl-C stops the agent (running jobs drain), then the local network. Editing src/ restarts the agent.");
  print("");

  const spawn = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...AGENT_RUNTIME_FLAGS, `${ROOT}src/main.ts`, "run", "--env-file", envFile],
      env: { ...AGENT_RUNTIME_ENV },
      stdin: "null",
      detached: true,
    }).spawn();
  let agent = spawn();
  // Set while a source change replaces the agent: its exit then is not the end.
  let restarting: Promise<void> | undefined;
  let stopping = false;
  let firstSignalAt = 0;
  const done = Promise.withResolvers<void>();
  const onSignal = () => {
    const now = Date.now();
    if (!stopping) {
      stopping = true;
      firstSignalAt = now;
      print("\nStopping the agent: no new jobs, running ones drain (Ctrl-C again to stop them now)…");
      kill(agent, "SIGTERM");
      done.resolve();
    } else if (now - firstSignalAt >= 1000) {
      // `deno task` passes the terminal's Ctrl-C on as well: a repeat within a second is the same press.
      print("Stopping running jobs now…");
      kill(agent, "SIGTERM");
    }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  // Restart on source changes (debounced), unless stopping.
  const watcher = Deno.watchFs(`${ROOT}src/`, { recursive: true });
  (async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    for await (const event of watcher) {
      if (stopping || !event.paths.some((p) => p.endsWith(".ts"))) continue;
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (stopping || restarting) return;
        print("Source changed: restarting the agent (running jobs drain first)…");
        const old = agent;
        kill(old, "SIGTERM");
        restarting = old.status.then(() => {
          if (!stopping) agent = spawn();
          restarting = undefined;
        });
      }, 300);
    }
  })().catch(() => {});

  // Run until asked to stop, or until the agent exits on its own (a start-up error): then stop too.
  let status: Deno.CommandStatus;
  for (;;) {
    const ended = await Promise.race([agent.status.then((s) => ({ s })), done.promise.then(() => undefined)]);
    if (restarting) {
      await restarting;
      if (!stopping) continue;
    }
    if (ended === undefined || stopping) {
      status = await agent.status;
      break;
    }
    status = ended.s;
    stopping = true;
    print(`The agent exited with code ${status.code}.`);
    break;
  }
  watcher.close();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  print("Agent stopped; stopping the local network (NATS, anvil, IPFS)…");
  await net[Symbol.asyncDispose]();
  print(`Everything stopped (agent exit code ${status.code}).`);
  Deno.exitCode = status.code;
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch { /* already gone */ }
}
