/** 50 MB of interleaved stdout/stderr: right streams, bounded agent memory, capped log and status tail. */
import assert from "node:assert/strict";
import { dockerReady, testEngine } from "./support/harness.ts";

const ready = await dockerReady();
const PER_STREAM = 25 * 1024 * 1024;
const LINE = 100; // bytes per line including the newline
const BODY = (tag: string) => tag + "x".repeat(LINE - 1 - tag.length);

Deno.test({
  name: "50 MB of interleaved stdout/stderr land on the right streams with bounded memory and a capped tail",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({
      limits: { containerLogBytes: 256 * 1024 * 1024, logMaxBytes: 64 * 1024, tailBytes: 1024, cpus: 1 },
    });
    const counts = { stdout: 0, stderr: 0 };
    const wrong: string[] = [];
    const before = Deno.memoryUsage().heapUsed;
    let peak = before;
    const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().heapUsed), 50);
    let outcome;
    try {
      outcome = await t.engine.run({
        jobId: "chatty",
        attempt: 1,
        image: t.image,
        outputDir: t.outputDir,
        command: [
          "sh",
          "-c",
          `busybox yes ${BODY("OUT")} | busybox head -c ${PER_STREAM} & ` +
          `busybox yes ${BODY("ERR")} | busybox head -c ${PER_STREAM} >&2; wait`,
        ],
      }, {
        onLine: (stream, line) => {
          counts[stream]++;
          const expected = BODY(stream === "stdout" ? "OUT" : "ERR");
          if (line !== expected && wrong.length < 5) wrong.push(`${stream}: ${line.slice(0, 40)}`);
        },
      });
    } finally {
      clearInterval(sampler);
    }
    assert.ok(outcome.ok, JSON.stringify(outcome).slice(0, 500));
    assert.deepEqual(wrong, []);
    assert.deepEqual(counts, { stdout: PER_STREAM / LINE, stderr: PER_STREAM / LINE });
    assert.equal(outcome.output!.stdoutBytes, PER_STREAM);
    assert.equal(outcome.output!.stderrBytes, PER_STREAM);
    // The agent never holds the output: its heap grows far less than the 50 MB that passed through.
    assert.ok(peak - before < 40 * 1024 * 1024, `heap grew by ${((peak - before) / 1048576).toFixed(1)} MiB`);
    assert.ok(outcome.output!.stdoutTail.length <= 1024 && outcome.output!.stderrTail.length <= 1024);
    assert.ok(outcome.output!.stderrTail.endsWith(BODY("ERR")));
    const outputLines = t.logs.records.filter((r) => r.msg === "job output");
    const loggedBytes = outputLines.reduce((n, r) => n + String(r.fields.line).length + 1, 0);
    assert.ok(loggedBytes <= 64 * 1024 + LINE, `logged ${loggedBytes} bytes`);
    assert.ok(
      outputLines.every((r) => r.fields.job_id === "chatty" && ["stdout", "stderr"].includes(String(r.fields.stream))),
    );
    assert.equal(t.logs.records.filter((r) => r.msg.startsWith("job output beyond the log cap")).length, 1);
  },
});
