import assert from "node:assert/strict";
import { timelineLine } from "./submit.ts";
import { interruptedLines } from "./submit_timeline.ts";
import { subjectMatches } from "./submit_watch.ts";

const at = "2025-01-01T00:00:00.000Z";
const MiB = 1024 * 1024;

Deno.test("the timeline shows the stage while processing, the output when completed and the reason when failed", () => {
  assert.equal(
    timelineLine({ job_id: "j", status: "processing", stage: "fetching_input", timestamp: at }),
    `${at}  processing fetching the input`,
  );
  assert.equal(
    timelineLine({ job_id: "j", status: "completed", output_cid: "bafyout", exit_code: 0, timestamp: at }),
    `${at}  completed  output bafyout exit 0`,
  );
  assert.equal(
    timelineLine({ job_id: "j", status: "failed", reason: "nonzero_exit", message: "exit code 3", timestamp: at }),
    `${at}  failed     nonzero_exit: exit code 3`,
  );
});

Deno.test("every pipeline stage reads as plain words; an unknown stage is shown as sent", () => {
  const line = (stage: string) => timelineLine({ job_id: "j", status: "processing", stage, timestamp: at });
  assert.equal(line("validated"), `${at}  processing accepted by the agent`);
  assert.equal(line("pulling_image"), `${at}  processing pulling the image`);
  assert.equal(line("running"), `${at}  processing running`);
  assert.equal(line("uploading"), `${at}  processing uploading the output`);
  assert.equal(line("warming_up"), `${at}  processing warming_up`);
});

Deno.test("a processing status carrying transfer progress shows bytes moved, of what total, and the rate", () => {
  assert.equal(
    timelineLine({
      job_id: "j",
      status: "processing",
      stage: "fetching_input",
      progress: { bytes: 12 * MiB, total_bytes: 40 * MiB, bytes_per_second: 3 * MiB },
      timestamp: at,
    }),
    `${at}  processing fetching the input: 12.0 MiB of 40.0 MiB (30%), 3.0 MiB/s`,
  );
  assert.equal(
    timelineLine({ job_id: "j", status: "processing", stage: "uploading", bytes: 512, timestamp: at }),
    `${at}  processing uploading the output: 512 B`,
  );
  assert.equal(
    timelineLine({ job_id: "j", status: "processing", stage: "running", progress: { bytes: "lots" }, timestamp: at }),
    `${at}  processing running`,
    "a malformed progress field is left out",
  );
});

Deno.test("after Ctrl-C the job is said to keep running, with how to follow it and how to cancel it", () => {
  const agent = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
  const lines = interruptedLines({ jobId: "job-1", agent, statusSubject: "agent.status", signed: true });
  assert.match(lines[0], /Job job-1 keeps running on agent 0x70997970C51812dc3A010C7d01b50e0d17dc79C8/);
  assert.ok(lines.some((l) => l.includes("lamda-node-agent follow job-1") && l.includes("agent.status")));
  assert.ok(lines.some((l) => l.includes(`lamda-node-agent cancel job-1 --agent ${agent} --sign`)));
  const unsigned = interruptedLines({ jobId: "job-1", agent, statusSubject: "agent.status", signed: false });
  assert.ok(!unsigned.join("\n").includes("--sign"), "an unsigned job needs no signed cancel");
});

Deno.test("stream subjects match with NATS wildcards", () => {
  assert.ok(subjectMatches("agent.status", "agent.status"));
  assert.ok(subjectMatches("agent.*", "agent.status"));
  assert.ok(subjectMatches("agent.>", "agent.status"));
  assert.ok(subjectMatches(">", "agent.status"));
  assert.ok(!subjectMatches("agent.status", "agent.status.x"));
  assert.ok(!subjectMatches("agent.*", "agent"));
  assert.ok(!subjectMatches("agent.>", "agent"));
  assert.ok(!subjectMatches("jobs.dispatch.*", "agent.status"));
});
