/** End to end on a real local network: NATS dispatch → verified input → hardened container → upload → completed. */
import assert from "node:assert/strict";
import { verifyReceipt } from "../../src/agent/receipt.ts";
import { AgentProcess } from "../support/agent_process.ts";
import { DOCKER_HOST, dockerMissing } from "../support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../support/local_network.ts";
import { natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { jobContainers, StatusWatch } from "./helpers.ts";

const ready = serviceAvailable("dockerd", await dockerMissing()) &&
  serviceAvailable("nats-server", natsServerMissing());

Deno.test({
  name: "a seed-format job goes processing → completed with a verifiable output CID and a signed receipt",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start();
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    try {
      await using agent = AgentProcess.start({ env: net.agentEnv(dataDir) });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const input = await net.addFile("data.txt", "hello lamda\n");
      await watch.dispatch(net.agentAddress, { job_id: "e2e-1", image_name: net.image, input_file_cid: input });
      const done = await watch.terminal("e2e-1");
      assert.equal(done.status, "completed", JSON.stringify(done));
      const seq = watch.of("e2e-1").map((s) => s.status);
      assert.equal(seq[0], "processing");
      assert.equal(seq.at(-1), "completed");
      for (const field of ["agent_address", "job_id", "status", "output_cid", "timestamp"]) {
        assert.ok(field in done, `status has ${field}`);
      }
      assert.equal(done.agent_address, net.agentAddress);
      assert.equal(done.exit_code, 0);
      const receipt = verifyReceipt(done.receipt, net.agentAddress);
      assert.ok(receipt.valid, JSON.stringify(receipt));
      assert.equal(receipt.receipt.output_cid, done.output_cid);

      // The output CID retrieves the right bytes through the (verifying) gateway client.
      const files = await net.readOutput(done.output_cid as string);
      assert.equal(files["result.txt"], "HELLO LAMDA\n");
      assert.equal(files["size.txt"].trim(), "12");
      assert.deepEqual(await jobContainers(DOCKER_HOST, "e2e-1"), [], "no container left behind");

      agent.signal("SIGTERM");
      const status = await agent.exit();
      assert.equal(status.code, 0, agent.tail());
      const leaked = agent.lines.filter((l) => l.includes(net.agentKey.slice(2)));
      assert.deepEqual(leaked, [], "the private key never reaches a log line");
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "live output on jobs.logs.<job_id> (redacted, in order), stage statuses in order, the job on /status.json",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start();
    const dataDir = await Deno.makeTempDir({ prefix: "lamda-agent-" });
    try {
      const env = net.agentEnv(dataDir);
      await using agent = AgentProcess.start({ env });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const logs: { job_id: string; seq: number; stream: string; data: string; timestamp: string }[] = [];
      const sub = watch.nc.subscribe("jobs.logs.e2e-logs", { callback: (_e, m) => void logs.push(m.json()) });
      await watch.nc.flush();
      const input = await net.addFile("data.txt", "live logs\n");
      await watch.dispatch(net.agentAddress, {
        job_id: "e2e-logs",
        image_name: net.image,
        input_file_cid: input,
        // A job that prints its environment's token: it must never leave the node as written.
        env: { LEAK: DEV_PINATA_JWT },
        command: [
          "/bin/sh",
          "-c",
          'echo out-1; echo err-1 >&2; echo "token=$LEAK"; sleep 2; echo out-2; ' +
          "tr a-z A-Z < /input/input > /output/result.txt",
        ],
      });
      await watch.waitFor((s) => s.job_id === "e2e-logs" && s.stage === "running");
      // While it runs, /status.json shows it running.
      const seen = await (await fetch(`http://${env.HTTP_ADDR}/status.json`)).json();
      assert.equal(seen.phase, "serving");
      assert.equal(seen.node.address, net.agentAddress);
      assert.deepEqual(seen.jobs.active.map((j: { job_id: string; stage: string }) => [j.job_id, j.stage]), [
        ["e2e-logs", "running"],
      ]);
      const page = await fetch(`http://${env.HTTP_ADDR}/`);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await page.text(), /e2e-logs/);

      const done = await watch.terminal("e2e-logs");
      assert.equal(done.status, "completed", JSON.stringify(done));
      const stages = watch.of("e2e-logs").filter((s) => s.status === "processing" && !("progress" in s))
        .map((s) => s.stage);
      assert.deepEqual(stages, ["validated", "fetching_input", "pulling_image", "running", "uploading"]);
      for (const s of watch.of("e2e-logs").filter((s) => "progress" in s)) {
        assert.ok(["fetching_input", "pulling_image", "uploading"].includes(s.stage as string), JSON.stringify(s));
      }

      await new Promise((r) => setTimeout(r, 300)); // the last batch is published before the terminal status
      sub.unsubscribe();
      assert.deepEqual(logs.map((m) => m.seq), logs.map((_, i) => i), "seq counts from 0 without gaps");
      const of = (stream: string) => logs.filter((m) => m.stream === stream).map((m) => m.data).join("");
      assert.equal(of("stdout"), "out-1\ntoken=[REDACTED]\nout-2\n");
      assert.equal(of("stderr"), "err-1\n");
      assert.ok(logs.length <= 6, `batched, not one message per line (${logs.length})`);
      assert.ok(logs.every((m) => m.job_id === "e2e-logs" && !Number.isNaN(Date.parse(m.timestamp))));
      assert.equal(JSON.stringify(logs).includes(DEV_PINATA_JWT), false, "the token never leaves the node");

      // Where the job's time went, as `deno task bench` reads it: every step of the pipeline, in milliseconds.
      const finished = await agent.waitFor((r) => r.msg === "Job finished" && r.job_id === "e2e-logs");
      const timing = finished.timing as Record<string, number>;
      for (
        const step of ["accept", "journal", "dirs", "input", "image", "create", "start", "wait", "remove", "upload"]
      ) {
        assert.ok(typeof timing[step] === "number" && timing[step] >= 0, `${step} in ${JSON.stringify(timing)}`);
      }
      assert.ok(timing.wait + timing.logs >= 1500, "the container's 2 s sleep is in its run, not elsewhere");

      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "the documented install: .env in the working directory, DATA_DIR unset (./data) → a job with an input completes",
  ignore: !ready,
  async fn() {
    await using net = await LocalNetwork.start({ agentKeyIndex: 5 });
    const home = await Deno.makeTempDir({ prefix: "lamda-home-" });
    try {
      const { DATA_DIR: _unset, ...env } = net.agentEnv("unused");
      await Deno.writeTextFile(`${home}/.env`, Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", {
        mode: 0o600,
      });
      await using agent = AgentProcess.start({ env: {}, cwd: home });
      await agent.ready();
      await using watch = await StatusWatch.open(net.nats.url);
      const input = await net.addFile("data.txt", "relative data dir\n");
      await watch.dispatch(net.agentAddress, { job_id: "e2e-rel", image_name: net.image, input_file_cid: input });
      const done = await watch.terminal("e2e-rel");
      assert.equal(done.status, "completed", JSON.stringify(done));
      const files = await net.readOutput(done.output_cid as string);
      assert.equal(files["result.txt"], "RELATIVE DATA DIR\n");
      const journal = await Deno.stat(`${home}/data/journal.db`);
      assert.ok(journal.isFile, "the journal lives in ./data of the working directory");
      agent.signal("SIGTERM");
      assert.equal((await agent.exit()).code, 0, agent.tail());
    } finally {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
