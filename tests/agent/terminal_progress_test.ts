/**
 * On a terminal (a real pseudo-terminal from util-linux `script`) with LOG_FORMAT=pretty, the agent shows a job's
 * transfers as one progress line rewritten in place (`\r`), ended by a newline when done; the same agent logging
 * JSON to a pipe writes progress only as log records.
 */
import assert from "node:assert/strict";
import { AGENT_RUNTIME_ENV, AGENT_RUNTIME_FLAGS } from "../../src/runtime_flags.ts";
import { dockerMissing } from "../support/docker.ts";
import { LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable, which } from "../support/service.ts";
import { StatusWatch } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing()) &&
  serviceAvailable("script (util-linux)", which("script") ? undefined : "script is not installed (bsdutils)");
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

Deno.test({
  name: "a TTY with pretty logs shows a rewritten progress line for the input download and the output upload",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start({ agentKeyIndex: 6 });
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    const env = net.agentEnv(dataDir, { LOG_FORMAT: "pretty", LOG_LEVEL: "info" });
    const line = [Deno.execPath(), "run", "-A", ...AGENT_RUNTIME_FLAGS, MAIN, "run"].map((a) => `'${a}'`).join(" ");
    // `script` gives the agent a pseudo-terminal as stdin/stdout/stderr and copies what it prints to our stdout.
    const child = new Deno.Command("script", {
      args: ["-qfec", line, "/dev/null"],
      env: {
        ...env,
        ...AGENT_RUNTIME_ENV,
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? "/root",
        TERM: "xterm",
      },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    const pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) out += decoder.decode(chunk, { stream: true });
    })();
    const until = async (re: RegExp, what: string, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`no ${what} on the terminal; it shows:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await until(/agent ready/, "ready line");
      await using watch = await StatusWatch.open(net.nats.url);
      // Random bytes: identical chunks would be one block, and the download counts verified blocks.
      const bytes = new Uint8Array(3 * 1024 * 1024);
      for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      const input = await net.addFile("data.bin", bytes);
      await watch.dispatch(net.agentAddress, { job_id: "tty-1", image_name: net.image, input_file_cid: input });
      const done = await watch.terminal("tty-1");
      assert.equal(done.status, "completed", JSON.stringify(done));
      // A pseudo-terminal turns "\n" into "\r\n"; the progress line itself starts with "\r" each time it is redrawn.
      await until(/\ruploading output: [^\r\n]*\r?\n/, "finished upload line");
      const lines = (label: string) => [...out.matchAll(new RegExp(`\r${label}: ([^\r\n]*)`, "g"))].map((m) => m[1]);
      const downloads = lines("downloading input");
      assert.ok(downloads.length >= 1, out.slice(-2000));
      assert.match(downloads.at(-1)!, /^3\.0 MiB of 3\.0 MiB \(100%\)/, JSON.stringify(downloads));
      assert.match(lines("uploading output").at(-1)!, /^3\.0 MiB of 3\.0 MiB \(100%\)/);
      assert.doesNotMatch(out, /^\{"time":/m, "pretty lines, not JSON, on the terminal");
    } finally {
      // Closing the terminal hangs the agent up; `script` goes with it.
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.stdin.close().catch(() => {});
      await child.status;
      await pump.catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
