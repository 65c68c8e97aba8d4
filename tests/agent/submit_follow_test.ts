/**
 * `submit`, `follow` and `cancel` in-process against a real nats-server and a real job runner (fake executor, no
 * Docker): Ctrl-C leaves the job running and says how to get back to it, a dropped NATS link is told and (with the
 * status stream) misses nothing, a bad image is refused before anything moves, the input upload and the output
 * fetch go through the local IPFS service.
 */
import assert from "node:assert/strict";
import { cancelCommand } from "../../src/agent/cancel_command.ts";
import { followCommand, SUBMIT_EXIT, submitCommand } from "../../src/agent/submit.ts";
import { submitProgress, uploadInput } from "../../src/agent/submit_upload.ts";
import { createLogger } from "../../src/cli/main.ts";
import type { Command } from "../../src/command.ts";
import { loadConfig } from "../../src/config/mod.ts";
import type { ExecutionContext, Job, JobExecutor, JobOutcome } from "../../src/job/mod.ts";
import { Logger, MemoryWriter, type ProgressReport } from "../../src/log/mod.ts";
import { startDevIpfs } from "../../src/storage/mod.ts";
import { NatsServer, natsServerMissing } from "../support/nats_server.ts";
import { freePort } from "../support/ports.ts";
import { serviceAvailable } from "../support/service.ts";
import { AGENT, DISPATCHER, FakeExecutor, sleep, StatusWatcher, TEST_JS, TestAgent } from "../bus/helpers.ts";
import { startCutProxy } from "./cut_proxy.ts";
import { dockerSpecChecks } from "../../src/docker/mod.ts";
import { JobLogPublisher, jobLogSubject } from "../../src/bus/mod.ts";

const HAVE_NATS = serviceAvailable("nats-server", natsServerMissing());
const JWT = "dev-local-jwt-submit-follow-test-0000000000";

/** A command running in-process: its output so far, and its exit code once it ends. */
interface Running {
  out: string[];
  err: string[];
  code: Promise<number>;
  /** Ctrl-C. */
  interrupt(): void;
  /** Resolves when a stdout line matches. */
  printed(re: RegExp, timeoutMs?: number): Promise<string>;
}

function start(
  command: Command,
  env: Record<string, string>,
  options: Record<string, string | boolean>,
  args: string[] = [],
): Running {
  const loaded = loadConfig({ env });
  const out: string[] = [];
  const err: string[] = [];
  const logger = createLogger(loaded, (line) => void err.push(line));
  const controller = new AbortController();
  const code = command.run({
    args,
    options,
    loaded,
    logger,
    print: (line) => void out.push(line),
    signal: controller.signal,
  });
  const running: Running = {
    out,
    err,
    code,
    interrupt: () => controller.abort(),
    async printed(re, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = out.find((l) => re.test(l));
        if (hit) return hit;
        if (Date.now() > end) assert.fail(`no line matching ${re} within ${timeoutMs} ms:\n${out.join("\n")}`);
        await sleep(20);
      }
    },
  };
  return running;
}

/** A job's whole output, for assertion messages. */
const text = (r: Running) => `${r.out.join("\n")}\n${r.err.join("\n")}`;

Deno.test("a malformed image reference is a usage error, named, before anything is uploaded or dispatched", async () => {
  let requests = 0;
  await using pinata = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
    requests++;
    return new Response("{}");
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/in.txt`, "x");
    const run = start(submitCommand, {
      NATS_URL: `nats://127.0.0.1:${freePort()}`,
      PINATA_API_URL: `http://127.0.0.1:${pinata.addr.port}`,
      PINATA_JWT: JWT,
    }, { image: "Busybox:latest", input: `${dir}/in.txt`, agent: AGENT.address });
    assert.equal(await run.code, SUBMIT_EXIT.usage, text(run));
    assert.match(run.err.join("\n"), /--image: image reference \\"Busybox:latest\\"/);
    assert.equal(requests, 0, "nothing was uploaded");
    assert.deepEqual(run.out, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("submit's input upload reports progress as bytes move, for a file and a directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using ipfs = await startDevIpfs({ port: 0, dataDir: `${dir}/ipfs`, jwt: JWT });
    const bytes = new Uint8Array(3 * 1024 * 1024).fill(7);
    await Deno.writeFile(`${dir}/big.bin`, bytes);
    await Deno.mkdir(`${dir}/tree`);
    await Deno.writeFile(`${dir}/tree/a.bin`, bytes.subarray(0, 1024 * 1024));
    await Deno.writeTextFile(`${dir}/tree/b.txt`, "hello");
    for (
      const [path, size, kind] of [[`${dir}/big.bin`, bytes.length, "file"], [
        `${dir}/tree`,
        1024 * 1024 + 5,
        "directory",
      ]] as const
    ) {
      const reports: ProgressReport[] = [];
      const up = await uploadInput(path, {
        apiUrl: ipfs.url,
        jwt: JWT,
        maxBytes: 1 << 30,
        progress: (r) => reports.push(r),
        progressIntervalMs: 0,
      });
      assert.equal(up.kind, kind);
      assert.ok(reports.length >= 2, `${kind}: reports while moving and at the end, got ${reports.length}`);
      const last = reports.at(-1)!;
      assert.equal(last.done, true);
      assert.equal(last.bytes, size, `${kind}: every content byte counted once`);
      assert.equal(last.total, size);
      assert.equal(last.label, "uploading the input");
      assert.ok(reports.slice(0, -1).every((r) => !r.done && r.bytes <= size));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("submit's transfers rewrite one line on a terminal and log a line every few seconds otherwise", () => {
  const writes: string[] = [];
  const tty = submitProgress(new Logger({ writer: new MemoryWriter() }), {
    terminal: true,
    write: (t) => writes.push(t),
  });
  assert.equal(tty.progressIntervalMs, 250);
  tty.progress({
    label: "downloading output",
    bytes: 1024,
    total: 2048,
    elapsedMs: 1000,
    bytesPerSecond: 1024,
    done: false,
  });
  tty.progress({
    label: "downloading output",
    bytes: 2048,
    total: 2048,
    elapsedMs: 2000,
    bytesPerSecond: 1024,
    done: true,
  });
  assert.match(writes[0], /^\rdownloading output: 1\.0 KiB of 2\.0 KiB \(50%\)/);
  assert.ok(writes[1].endsWith("\n"), "the finished transfer ends its line");

  const writer = new MemoryWriter();
  const plain = submitProgress(new Logger({ writer }), { terminal: false });
  assert.equal(plain.progressIntervalMs, 5000);
  plain.progress({ label: "uploading the input", bytes: 10, total: 20, elapsedMs: 1, bytesPerSecond: 1, done: false });
  assert.match(writer.text(), /uploading the input: 10 B of 20 B \(50%\)/);
});

Deno.test({
  name:
    "Ctrl-C while waiting exits 130, says the job keeps running and how to follow and cancel it; follow then sees it end",
  ignore: !HAVE_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using nats = await NatsServer.start();
    await using watch = await StatusWatcher.start([nats.url]);
    await using _agent = await TestAgent.start({ servers: [nats.url], executor: new FakeExecutor(3000) });
    const env = { NATS_URL: nats.url };
    const submit = start(submitCommand, env, { image: "busybox", agent: AGENT.address, "job-id": "left-running" });
    await submit.printed(/processing +accepted by the agent/);
    assert.ok(submit.out.some((l) => /^Waiting for the statuses of left-running from core NATS/.test(l)), text(submit));
    submit.interrupt();
    assert.equal(await submit.code, SUBMIT_EXIT.interrupted, text(submit));
    const said = submit.out.join("\n");
    assert.match(said, new RegExp(`Job left-running keeps running on agent ${AGENT.address}`));
    assert.match(said, /lamda-node-agent follow left-running/);
    assert.match(said, new RegExp(`lamda-node-agent cancel left-running --agent ${AGENT.address}`));
    assert.equal(watch.of("left-running").some((s) => s.status !== "processing"), false, "the job was still running");

    const follow = start(followCommand, env, { json: true }, ["left-running"]);
    assert.equal(await follow.code, SUBMIT_EXIT.completed, text(follow));
    const result = JSON.parse(follow.out.join("\n"));
    assert.equal(result.status, "completed");
    assert.equal(result.agent, AGENT.address, "the agent is learnt from the statuses");
    assert.equal(
      (await watch.waitFor((s) => s.job_id === "left-running" && s.status === "completed")).status,
      "completed",
    );
  },
});

Deno.test({
  name:
    "a NATS link that drops mid-job is told when it goes and comes back; the final status sent meanwhile is not missed",
  ignore: !HAVE_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using nats = await NatsServer.start();
    await using watch = await StatusWatcher.start([nats.url]);
    await using _agent = await TestAgent.start({
      servers: [nats.url],
      executor: new FakeExecutor(2000),
      intake: "jetstream",
      jetstream: TEST_JS,
    });
    await using link = startCutProxy(nats.port);
    const env = { NATS_URL: `nats://127.0.0.1:${link.port}`, JOB_INTAKE: "jetstream" };
    const submit = start(submitCommand, env, { image: "busybox", agent: AGENT.address, "job-id": "through-a-cut" });
    await submit.printed(/processing +accepted by the agent/);
    assert.ok(submit.out.some((l) => /from the status stream LAMDA_STATUS/.test(l)), text(submit));
    link.cut();
    await submit.printed(/nats +connection to \S+ lost, reconnecting/);
    await watch.waitFor((s) => s.job_id === "through-a-cut" && s.status === "completed", 15_000);
    assert.ok(!submit.out.some((l) => / completed /.test(l)), "the final status went out while the link was down");
    link.restore();
    assert.equal(await submit.code, SUBMIT_EXIT.completed, text(submit));
    const back = submit.out.findIndex((l) => /nats +connection back/.test(l));
    const done = submit.out.findIndex((l) => / completed +output /.test(l));
    assert.ok(back >= 0 && done > back, text(submit));

    // The stream still holds the job's statuses: following it now shows them and ends at once.
    const follow = start(followCommand, env, {}, ["through-a-cut"]);
    assert.equal(await follow.code, SUBMIT_EXIT.completed, text(follow));
    assert.ok(follow.out.some((l) => /processing +accepted by the agent/.test(l)), text(follow));
  },
});

Deno.test({
  name: "submit prints the job's live output as it comes, stdout and stderr marked, and the truncation; --no-logs not",
  ignore: !HAVE_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    await using agent = await TestAgent.start({ servers: [nats.url], executor: new FakeExecutor(4000) });
    const env = { NATS_URL: nats.url };
    const jobId = "with-output";
    const submit = start(submitCommand, env, { image: "busybox", agent: AGENT.address, "job-id": jobId });
    await submit.printed(/processing +accepted by the agent/);
    const quiet = start(followCommand, env, { "no-logs": true }, [jobId]);
    await quiet.printed(/^Waiting for the statuses of with-output/);

    // As the agent does: whole lines, batched; the cap cuts the third line and ends with the marker.
    const nc = agent.conn.nc;
    const subject = jobLogSubject(jobId);
    nc.publish(subject, "not json");
    nc.publish(subject, JSON.stringify({ job_id: jobId, stream: "stdout" })); // no data
    nc.publish(subject, JSON.stringify({ job_id: "another-job", seq: 0, stream: "stdout", data: "elsewhere\n" }));
    const stream = new JobLogPublisher((s, d) => nc.publish(s, d), { maxBytes: 80, flushIntervalMs: 10 })
      .open(jobId, 1);
    stream.line("stdout", "hello from the job");
    stream.line("stderr", "warning: disk is slow");
    stream.line("stdout", "x".repeat(100));
    stream.close();
    assert.equal(stream.published, 3);
    await submit.printed(/job output truncated/);

    assert.equal(await submit.code, SUBMIT_EXIT.completed, text(submit));
    assert.equal(await quiet.code, SUBMIT_EXIT.completed, text(quiet));
    const output = submit.out.filter((l) => /^ {2}[│!…] /.test(l));
    assert.deepEqual(output, [
      "  │ hello from the job",
      "  ! warning: disk is slow",
      "  … job output truncated: 101 bytes not streamed (JOB_LOG_STREAM_MAX_BYTES)",
    ], text(submit));
    const first = submit.out.indexOf(output[0]);
    assert.ok(first > submit.out.findIndex((l) => /processing +accepted/.test(l)), "in the timeline, as it came");
    assert.ok(first < submit.out.findIndex((l) => / completed +output /.test(l)), text(submit));
    assert.ok(!text(submit).includes("elsewhere"), "another job's output is not shown");
    assert.ok(quiet.out.some((l) => / completed +output /.test(l)), text(quiet));
    assert.ok(!quiet.out.some((l) => /^ {2}[│!…] /.test(l)), `--no-logs prints no output:\n${text(quiet)}`);
  },
});

/** Completes every job with its own input as output (the output fetch then has something real to verify). */
class EchoExecutor implements JobExecutor {
  async execute(job: Job, ctx: ExecutionContext): Promise<JobOutcome> {
    await ctx.progress("running");
    return { status: "completed", outputCid: job.inputFileCid ?? "", exitCode: 0 };
  }
}

Deno.test({
  name: "submit uploads the input, dispatches, waits, and fetches the verified output, saying each step",
  ignore: !HAVE_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await using nats = await NatsServer.start();
      await using ipfs = await startDevIpfs({ port: 0, dataDir: `${dir}/ipfs`, jwt: JWT });
      await using _agent = await TestAgent.start({ servers: [nats.url], executor: new EchoExecutor() });
      await Deno.mkdir(`${dir}/in`);
      await Deno.writeTextFile(`${dir}/in/result.txt`, "echoed back\n");
      const submit = start(submitCommand, {
        NATS_URL: nats.url,
        PINATA_API_URL: ipfs.url,
        PINATA_JWT: JWT,
        IPFS_GATEWAYS: ipfs.url,
        DATA_DIR: `${dir}/data`,
      }, { image: "busybox", agent: AGENT.address, input: `${dir}/in`, "output-dir": `${dir}/out` });
      assert.equal(await submit.code, SUBMIT_EXIT.completed, text(submit));
      const steps = [
        /^Uploading the input .* through the Pinata API/,
        /^input +\S+ \(directory, 12 B\)/,
        /^job +\S+ → jobs\.dispatch\.0x/,
        /^Waiting for the statuses of /,
        /completed +output \S+ exit 0/,
        /^Fetching the output \S+ into /,
        /^output +.*: 1 file\(s\), 12 B \(verified, from /,
      ];
      let at = -1;
      for (const step of steps) {
        const i = submit.out.findIndex((l, n) => n > at && step.test(l));
        assert.ok(i > at, `step ${step} in order:\n${text(submit)}`);
        at = i;
      }
      assert.equal(await Deno.readTextFile(`${dir}/out/result.txt`), "echoed back\n");
      const logs = submit.err.join("\n");
      assert.match(logs, /output fetched and verified/);
      assert.doesNotMatch(logs, /input fetched/, "the output fetch is not called an input");
      assert.ok(!text(submit).includes(JWT), "the Pinata JWT never shows");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "cancel publishes the request the agent accepts: a running job ends failed/cancelled, signed when JOB_SIGNERS asks",
  ignore: !HAVE_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using nats = await NatsServer.start();
    await using watch = await StatusWatcher.start([nats.url]);
    await using agent = await TestAgent.start({
      servers: [nats.url],
      executor: new FakeExecutor(60_000),
      maxConcurrent: 2,
      runner: { signers: [DISPATCHER.address] },
    });
    const dispatch = async (jobId: string) => {
      const { signJob } = await import("../../src/job/mod.ts");
      agent.conn.nc.publish(
        `jobs.dispatch.${AGENT.address}`,
        JSON.stringify(await signJob({ job_id: jobId, image_name: "busybox" }, DISPATCHER, dockerSpecChecks)),
      );
      await watch.waitFor((s) => s.job_id === jobId && s.status === "processing");
    };
    const env = { NATS_URL: nats.url, AGENT_PRIVATE_KEY: DISPATCHER.privateKey };
    await dispatch("cancel-me");
    await dispatch("unsigned-cancel");

    // Unsigned: published (exit 0), but the agent's JOB_SIGNERS makes it ignore the request.
    const unsigned = start(cancelCommand, env, { agent: AGENT.address }, ["unsigned-cancel"]);
    assert.equal(await unsigned.code, 0, text(unsigned));
    assert.match(unsigned.out.join("\n"), new RegExp(`published on jobs\\.cancel\\.${AGENT.address}`));

    const signed = start(cancelCommand, env, { agent: AGENT.address, sign: true }, ["cancel-me"]);
    assert.equal(await signed.code, 0, text(signed));
    assert.match(signed.out.join("\n"), /\(signed\)/);
    const final = await watch.waitFor((s) => s.job_id === "cancel-me" && s.status !== "processing");
    assert.equal(final.status, "failed");
    assert.equal(final.reason, "cancelled");
    assert.equal(agent.runner.running, 1, "the job cancelled without a valid signature still runs");
    assert.ok(!watch.of("unsigned-cancel").some((s) => s.status !== "processing"));
    for (const r of [unsigned, signed]) assert.ok(!text(r).includes(DISPATCHER.privateKey.slice(2)), "key leaked");
  },
});

Deno.test("cancel checks its command line: a job id, a 0x agent, a key for --sign", async () => {
  const env = { NATS_URL: `nats://127.0.0.1:${freePort()}` };
  for (
    const [options, args, why] of [
      [{ agent: AGENT.address }, [], /give the job id/],
      [{ agent: "nope" }, ["j"], /--agent must be a 0x address/],
      [{ agent: AGENT.address }, ["bad id!"], /job id must be/],
      [{ agent: AGENT.address, sign: true }, ["j"], /--sign needs AGENT_PRIVATE_KEY/],
      [{}, ["j"], /--agent ADDRESS is required/],
    ] as const
  ) {
    const run = start(cancelCommand, env, options, [...args]);
    assert.equal(await run.code, 2, text(run));
    assert.match(run.err.join("\n"), why);
  }
});
