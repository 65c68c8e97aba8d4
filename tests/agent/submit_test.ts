/** `submit` against the local network and a running agent: upload, dispatch, follow, fetch the verified output. */
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { AgentProcess } from "../support/agent_process.ts";
import { ANVIL_KEYS } from "../support/anvil.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, waitUntil } from "./helpers.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

/** The dispatcher's key: not the agent's. */
const SUBMITTER_KEY = ANVIL_KEYS[2];
const SUBMITTER = new Wallet(SUBMITTER_KEY).address;

interface SubmitRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts the CLI as a dispatcher would: its own key, the network's NATS and IPFS service, in `cwd` (no `.env`). */
function spawnCli(net: LocalNetwork, cwd: string, argv: string[]): Deno.ChildProcess {
  const inherit: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const v = Deno.env.get(k);
    if (v) inherit[k] = v;
  }
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...argv],
    env: {
      ...inherit,
      NO_COLOR: "1",
      AGENT_PRIVATE_KEY: SUBMITTER_KEY,
      NATS_URL: net.nats.url,
      JOB_INTAKE: "jetstream",
      PINATA_API_URL: net.ipfs.url,
      PINATA_JWT: DEV_PINATA_JWT,
      IPFS_GATEWAYS: net.ipfs.url,
      DATA_DIR: `${cwd}/data`,
    },
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(200_000),
  }).spawn();
}

/** Runs a CLI command to its end. */
async function cli(net: LocalNetwork, cwd: string, argv: string[]): Promise<SubmitRun> {
  const out = await spawnCli(net, cwd, argv).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Runs `submit` against the network's agent. */
function submit(net: LocalNetwork, cwd: string, args: string[]): Promise<SubmitRun> {
  return cli(net, cwd, ["submit", "--agent", net.agentAddress, "--timeout", "150s", ...args]);
}

function result(run: SubmitRun): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`submit printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

Deno.test({
  name: "submit against a running agent",
  ignore: !ready,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using net = await LocalNetwork.start();
    const work = await Deno.makeTempDir({ prefix: "lamda-submit-" });
    try {
      const dataDir = `${work}/agent`;
      await using agent = AgentProcess.start({ env: net.agentEnv(dataDir), cwd: work });
      await agent.ready();

      await t.step("a file input completes and its verified output lands in --output-dir", async () => {
        await Deno.writeTextFile(`${work}/words.txt`, "hello from submit\n");
        const run = await submit(net, work, [
          "--image",
          net.image,
          "--input",
          `${work}/words.txt`,
          "--output-dir",
          `${work}/out-file`,
          "--job-id",
          "submit-file",
        ]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /input\s+\S+ \(file, 18 B\)/);
        assert.match(run.stdout, /via JetStream/, "the job went through the stream the agent consumes");
        assert.match(run.stdout, /^Waiting for the statuses of submit-file from the status stream LAMDA_STATUS/m);
        assert.match(run.stdout, /processing +accepted by the agent/);
        if (Deno.env.get("SUBMIT_ECHO")) console.log(run.stdout);
        assert.match(run.stdout, /completed\s+output \S+ exit 0/);
        assert.equal(await Deno.readTextFile(`${work}/out-file/result.txt`), "HELLO FROM SUBMIT\n");
        assert.deepEqual(await jobContainers(DOCKER_HOST, "submit-file"), []);
      });

      await t.step("a directory input holding `input` is seen by the job as /input/input", async () => {
        await Deno.mkdir(`${work}/in-dir`);
        await Deno.writeTextFile(`${work}/in-dir/input`, "a directory input\n");
        const run = await submit(net, work, [
          "--image",
          net.image,
          "--input",
          `${work}/in-dir`,
          "--output-dir",
          `${work}/out-dir`,
          "--json",
        ]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const r = result(run);
        assert.equal(r.status, "completed");
        assert.equal(r.output_dir, `${work}/out-dir`);
        assert.equal(await Deno.readTextFile(`${work}/out-dir/result.txt`), "A DIRECTORY INPUT\n");
      });

      await t.step("a failing command exits 1 with reason nonzero_exit", async () => {
        const run = await submit(net, work, [
          "--image",
          net.image,
          "--command",
          '["sh","-c","exit 3"]',
          "--job-id",
          "submit-fails",
          "--json",
        ]);
        assert.equal(run.code, 1, run.stdout + run.stderr);
        const r = result(run);
        assert.equal(r.status, "failed");
        assert.equal(r.reason, "nonzero_exit");
        assert.equal(r.exit_code, 3);
        assert.equal((r.timeline as { status: string }[]).at(-1)?.status, "failed");
      });

      await t.step("a wrong command line exits 2", async () => {
        const noImage = await submit(net, work, ["--input", `${work}/words.txt`]);
        assert.equal(noImage.code, 2, noImage.stderr);
        const badCommand = await submit(net, work, ["--image", net.image, "--command", "sh -c true"]);
        assert.equal(badCommand.code, 2, badCommand.stderr);
        const badImage = await submit(net, work, ["--image", "Sample/Upper:1", "--input", `${work}/words.txt`]);
        assert.equal(badImage.code, 2, badImage.stderr);
        assert.match(badImage.stderr, /--image: image reference/);
        assert.doesNotMatch(badImage.stdout, /Uploading/, "nothing is uploaded for a bad image");
      });

      await t.step("Ctrl-C leaves the job running (exit 130, with the ways back); cancel then stops it", async () => {
        const child = spawnCli(net, work, [
          "submit",
          "--agent",
          net.agentAddress,
          "--image",
          net.image,
          "--command",
          '["sh","-c","sleep 60"]',
          "--job-id",
          "submit-interrupted",
        ]);
        const stderr = new Response(child.stderr).text();
        let stdout = "";
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        while (!/processing/.test(stdout)) {
          const { value, done } = await reader.read();
          if (done) assert.fail(`submit ended before the job ran:\n${stdout}\n${await stderr}`);
          stdout += value;
        }
        child.kill("SIGINT");
        for (let r = await reader.read(); !r.done; r = await reader.read()) stdout += r.value;
        const { code } = await child.status;
        assert.equal(code, 130, stdout + (await stderr));
        assert.match(stdout, /Job submit-interrupted keeps running on agent 0x/);
        assert.match(stdout, /lamda-node-agent follow submit-interrupted/);
        assert.match(stdout, new RegExp(`lamda-node-agent cancel submit-interrupted --agent ${net.agentAddress}`));
        // submit has exited; the job goes on: its container comes up (or is already up) and runs.
        await waitUntil(
          async () => (await jobContainers(DOCKER_HOST, "submit-interrupted")).length === 1,
          30_000,
          "the job's container to run after submit exited",
        );

        const cancel = await cli(net, work, ["cancel", "submit-interrupted", "--agent", net.agentAddress]);
        assert.equal(cancel.code, 0, cancel.stdout + cancel.stderr);
        // The status stream holds the job's statuses: follow shows the end it came to.
        const follow = await cli(net, work, ["follow", "submit-interrupted", "--json", "--timeout", "60s"]);
        assert.equal(follow.code, 1, follow.stdout + follow.stderr);
        assert.equal(result(follow).status, "failed");
        assert.equal(result(follow).reason, "cancelled");
        await waitUntil(
          async () => (await jobContainers(DOCKER_HOST, "submit-interrupted")).length === 0,
          30_000,
          "the cancelled job's container to be removed",
        );
      });

      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());

      await using signing = AgentProcess.start({ env: net.agentEnv(dataDir, { JOB_SIGNERS: SUBMITTER }), cwd: work });
      await signing.ready();

      await t.step("--sign, with JOB_SIGNERS on the agent set to the submitter, runs the job", async () => {
        const run = await submit(net, work, [
          "--image",
          net.image,
          "--input",
          `${work}/words.txt`,
          "--output-dir",
          `${work}/out-signed`,
          "--sign",
          "--json",
        ]);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.equal(result(run).status, "completed");
        assert.equal(await Deno.readTextFile(`${work}/out-signed/result.txt`), "HELLO FROM SUBMIT\n");
      });

      await t.step("without --sign the same agent rejects the job", async () => {
        const run = await submit(net, work, ["--image", net.image, "--json"]);
        assert.equal(run.code, 1, run.stdout + run.stderr);
        assert.equal(result(run).reason, "rejected");
      });

      const leaked = [...signing.lines, ...agent.lines].filter((l) => l.includes(SUBMITTER_KEY.slice(2)));
      assert.deepEqual(leaked, []);
      signing.signal("SIGTERM");
      assert.equal((await signing.exit()).code, 0, signing.tail());
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
