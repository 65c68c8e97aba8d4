/**
 * `deno task dev` as a developer runs it in a terminal: Ctrl-C (SIGINT to the whole foreground process group, which
 * `deno task` also passes on) drains the agent first — the running job completes, its container is removed — then
 * stops the local services, and says so.
 */
import assert from "node:assert/strict";
import { parseEnvFile } from "../../src/config/mod.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, StatusWatch, waitUntil } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "Ctrl-C under deno task dev drains the running job, then stops the local network, and says so",
  ignore: !ready,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-dev-" });
    // A session of its own: the test plays the terminal and signals the whole group, as Ctrl-C does.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "dev"],
      cwd: ROOT,
      env: { NO_COLOR: "1", DEV_DATA_DIR: dataDir, DOCKER_HOST },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    const out: string[] = [];
    const pump = (s: ReadableStream<Uint8Array>) =>
      (async () => {
        for await (const t of s.pipeThrough(new TextDecoderStream())) out.push(t);
      })();
    const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
    const text = () => out.join("");
    let watch: StatusWatch | undefined;
    try {
      await waitUntil(() => /agent ready/.test(text()), 120_000, `agent ready under dev:\n${text()}`);
      const env = parseEnvFile("devnet.env", await Deno.readTextFile(`${dataDir}/devnet.env`)).entries;
      const address = /jobs\.dispatch\.(0x[0-9a-fA-F]{40})/.exec(text())![1];
      watch = await StatusWatch.open(env.get("NATS_URL")!.value);
      const image = /--image (\S+)/.exec(text())![1];
      await watch.dispatch(address, {
        job_id: "dev-drain",
        image_name: image,
        command: ["sh", "-c", "sleep 4; echo drained > /output/r.txt"],
      });
      // The agent's pretty log says when the container runs.
      await waitUntil(() => /Job stage job_id=dev-drain .*stage=running/.test(text()), 60_000, "the job running");

      // Ctrl-C: SIGINT to every process of the group.
      Deno.kill(-child.pid, "SIGINT");
      const done = await watch.terminal("dev-drain", 60_000);
      assert.equal(done.status, "completed", `the running job drains to completion: ${JSON.stringify(done)}`);
      const status = await child.status;
      await pumped;
      assert.equal(status.code, 0, text());
      const all = text();
      const agentStopped = all.indexOf("agent stopped");
      const netStopping = all.indexOf("stopping the local network");
      assert.ok(agentStopped >= 0 && netStopping > agentStopped, `agent first, then the network:\n${all}`);
      assert.match(all, /Everything stopped \(agent exit code 0\)/);
      assert.deepEqual(await jobContainers(DOCKER_HOST, "dev-drain"), [], "no job container left running");
    } finally {
      await watch?.[Symbol.asyncDispose]().catch(() => {});
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
