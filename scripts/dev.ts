/**
 * `deno task dev`: the agent from source with file watching (`deno run --watch`), against the local network, which
 * lives as long as this process. Ctrl-C stops the agent (drain) and then the network.
 */
import { startDevnet } from "./devnet.ts";

const net = await startDevnet((l) => console.log(l));
if (!net) {
  Deno.exitCode = 1;
} else {
  const dataDir = `${Deno.cwd()}/data/dev`;
  await Deno.mkdir(dataDir, { recursive: true });
  const envFile = `${dataDir}/devnet.env`;
  const env = net.agentEnv(dataDir, { LOG_FORMAT: "pretty", LOG_LEVEL: "info" });
  await Deno.writeTextFile(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", {
    mode: 0o600,
  });
  console.log(
    `Agent config written to ${envFile}; dispatch jobs to jobs.dispatch.${net.agentAddress} on ${net.nats.url}`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--watch=src/", "-A", "src/main.ts", "run", "--env-file", envFile],
    stdin: "null",
  }).spawn();
  // Ctrl-C reaches the agent from the terminal itself (same process group): only wait for it here, so the agent sees
  // one signal and drains. SIGTERM sent to this process alone is passed on.
  const ignore = () => {};
  const forward = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGINT", ignore);
  Deno.addSignalListener("SIGTERM", forward);
  const status = await child.status;
  Deno.removeSignalListener("SIGINT", ignore);
  Deno.removeSignalListener("SIGTERM", forward);
  await net[Symbol.asyncDispose]();
  Deno.exitCode = status.code;
}
