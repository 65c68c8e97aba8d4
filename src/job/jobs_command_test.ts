import assert from "node:assert/strict";
import type { CommandContext } from "../command.ts";
import { loadConfig } from "../config/mod.ts";
import { Logger, MemoryWriter } from "../log/mod.ts";
import { JOBS_EXIT, jobsCommand } from "./jobs_command.ts";
import { JobJournal } from "./journal.ts";
import { buildStatus } from "./status.ts";

const AGENT = "0x" + "a".repeat(40);
const CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

async function run(dataDir: string, args: string[], options: Record<string, string | boolean> = {}) {
  const out: string[] = [];
  const writer = new MemoryWriter();
  const ctx: CommandContext = {
    args,
    options,
    loaded: loadConfig({ env: { DATA_DIR: dataDir } }),
    logger: new Logger({ writer }),
    print: (line) => out.push(line),
    signal: new AbortController().signal,
  };
  const code = await jobsCommand.run(ctx);
  return { code, out, errors: writer.records.filter((r) => r.level === "error").map((r) => r.msg) };
}

Deno.test("jobs lists recent jobs and jobs show prints one timeline, read-only beside a journal still being written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let clock = Date.parse("2026-12-02T10:00:00Z");
    // The agent's own handle stays open and keeps writing while the command reads.
    using agent = JobJournal.open(JobJournal.pathIn(dir), { now: () => clock });
    const job = { jobId: "train-1", imageName: "busybox:1.36", outputPath: "/output" };
    agent.insertReceived("train-1", job);
    agent.accept(
      "train-1",
      job,
      (n) =>
        buildStatus({
          agentAddress: AGENT,
          jobId: "train-1",
          status: "processing",
          attempt: n,
          stage: "validated",
          now: new Date(clock),
        }),
    );
    clock += 1500;
    agent.markStarted("train-1", ["GPU-aaaa"]);
    clock += 4000;
    agent.finish(
      "train-1",
      buildStatus({
        agentAddress: AGENT,
        jobId: "train-1",
        status: "completed",
        attempt: 1,
        outputCid: CID,
        now: new Date(clock),
      }),
    );
    clock += 1000;
    agent.insertReceived("bad-2", undefined);
    agent.finish(
      "bad-2",
      buildStatus({
        agentAddress: AGENT,
        jobId: "bad-2",
        status: "failed",
        attempt: 0,
        reason: "invalid_job",
        message: "image_name is required",
        now: new Date(clock),
      }),
    );

    const list = await run(dir, []);
    assert.equal(list.code, JOBS_EXIT.ok);
    assert.match(list.out[0], /^JOB\s+STATE\s+REASON\s+RECEIVED\s+QUEUED\s+RUN\s+TOTAL\s+OUTPUT$/);
    assert.match(list.out[1], /^bad-2\s+failed\s+invalid_job\s+2026-12-02T10:00:06Z\s+0\.0s$/, "newest first");
    assert.match(
      list.out[2],
      new RegExp(`^train-1\\s+completed\\s+2026-12-02T10:00:00Z\\s+1\\.5s\\s+4\\.0s\\s+5\\.5s\\s+${CID}$`),
    );

    const show = await run(dir, ["show", "train-1"]);
    assert.equal(show.code, JOBS_EXIT.ok);
    assert.deepEqual(show.out, [
      "job train-1: completed",
      `  output: ${CID}`,
      "  image: busybox:1.36",
      "  gpus: GPU-aaaa",
      "  attempts: 1, deliveries: 1",
      "  received 2026-12-02T10:00:00.000Z, started 2026-12-02T10:00:01.500Z, finished 2026-12-02T10:00:05.500Z",
      "timeline:",
      "  2026-12-02T10:00:00.000Z processing validated",
      `  2026-12-02T10:00:05.500Z completed ${CID}`,
    ]);
    const json = JSON.parse((await run(dir, ["show", "bad-2"], { json: true })).out.join("\n"));
    assert.equal(json.reason, "invalid_job");
    assert.deepEqual(json.timeline.map((s: { status: string }) => s.status), ["failed"]);

    // The agent writes on; the next read sees it. The command never writes.
    clock += 1000;
    agent.insertReceived("later-3", undefined);
    assert.equal((await run(dir, [], { limit: "1" })).out[1].split(/\s+/)[0], "later-3");
    assert.equal((await run(dir, ["show", "nope"])).code, JOBS_EXIT.notFound);
    assert.equal((await run(dir, ["shw", "x"])).code, JOBS_EXIT.usage);
    assert.equal((await run(dir, [], { limit: "0" })).code, JOBS_EXIT.usage);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs without a journal says which DATA_DIR it looked in; the read-only journal refuses writes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const none = await run(dir, []);
    assert.equal(none.code, JOBS_EXIT.notFound);
    assert.match(
      none.errors[0],
      new RegExp(`No job journal at ${dir}/journal.db: has the agent run with this DATA_DIR\\?`),
    );
    JobJournal.open(JobJournal.pathIn(dir)).close();
    using ro = JobJournal.openReadOnly(JobJournal.pathIn(dir));
    assert.deepEqual(ro.recent(), []);
    assert.throws(() => ro.insertReceived("x", undefined), /readonly/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
