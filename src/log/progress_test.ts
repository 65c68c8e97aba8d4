import assert from "node:assert/strict";
import {
  describeProgress,
  fanOutSink,
  formatBytes,
  type ProgressReport,
  terminalProgressSink,
  throttledSink,
  TransferProgress,
} from "./mod.ts";

Deno.test("progress reports at most once per interval while bytes move, and once at the end", () => {
  let now = 0;
  const reports: ProgressReport[] = [];
  const moved: number[] = [];
  const p = new TransferProgress((r) => reports.push(r), {
    label: "uploading output",
    total: 4096,
    intervalMs: 1000,
    onBytes: (n) => moved.push(n),
    now: () => now,
  });
  p.add(1024);
  assert.equal(reports.length, 0, "no report before the interval");
  now = 1000;
  p.add(1024);
  assert.equal(reports.length, 1);
  assert.deepEqual([reports[0].bytes, reports[0].done, reports[0].bytesPerSecond], [2048, false, 2048]);
  now = 1500;
  p.add(2048);
  assert.equal(reports.length, 1, "within the interval: counted, not reported");
  p.done();
  p.done();
  assert.equal(reports.length, 2);
  assert.deepEqual([reports[1].bytes, reports[1].done], [4096, true]);
  assert.deepEqual(moved, [1024, 1024, 2048], "every chunk reaches onBytes as it moves");
  p.add(10);
  assert.equal(p.bytes, 4096, "nothing counts after done");
});

Deno.test("progress text uses binary units and a percentage when the total is known", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(400 * 1024 * 1024), "400.0 MiB");
  assert.equal(formatBytes(1.5 * 1024 ** 3), "1.5 GiB");
  const r = {
    label: "x",
    bytes: 120 * 1024 ** 2,
    total: 400 * 1024 ** 2,
    elapsedMs: 10_000,
    bytesPerSecond: 12 * 1024 ** 2,
    done: false,
  };
  assert.equal(describeProgress(r), "120.0 MiB of 400.0 MiB (30%), 12.0 MiB/s");
  assert.equal(describeProgress({ ...r, total: undefined }), "120.0 MiB, 12.0 MiB/s");
});

Deno.test("a terminal progress line is rewritten in place and ended with a newline", () => {
  const out: string[] = [];
  const sink = terminalProgressSink((t) => out.push(t));
  sink({ label: "uploading input", bytes: 2048, elapsedMs: 1000, bytesPerSecond: 2048, done: false });
  sink({ label: "uploading input", bytes: 4096, elapsedMs: 2000, bytesPerSecond: 2048, done: true });
  assert.ok(out[0].startsWith("\ruploading input: 2.0 KiB"));
  assert.ok(out[1].startsWith("\r") && out[1].endsWith("\n"));
});

Deno.test("a restarted attempt counts from zero again, and onBytes is not given the re-sent bytes a second time", () => {
  const reports: ProgressReport[] = [];
  const moved: number[] = [];
  const p = new TransferProgress((r) => reports.push(r), { label: "x", onBytes: (n) => moved.push(n), now: () => 0 });
  p.add(300);
  p.restart();
  assert.equal(p.bytes, 0);
  p.add(200);
  assert.deepEqual(moved, [300], "bytes up to the earlier attempt's 300 were already counted");
  p.add(250);
  assert.deepEqual(moved, [300, 150], "only what goes beyond the earlier attempt counts");
  p.done();
  assert.equal(reports.at(-1)!.bytes, 450, "the final report is the last attempt's count");
  assert.equal(moved.reduce((a, b) => a + b, 0), 450);
});

Deno.test("one transfer feeds a terminal line often and the log rarely: throttled and fanned-out sinks", () => {
  let now = 0;
  const log: number[] = [];
  const tty: string[] = [];
  const sink = fanOutSink(
    throttledSink((r) => log.push(r.bytes), 5000, () => now),
    terminalProgressSink((t) => tty.push(t)),
    undefined,
  );
  const report = (bytes: number, done = false): ProgressReport => ({
    label: "pulling image",
    bytes,
    total: 10_240,
    bytesPerSecond: 1024,
    elapsedMs: now,
    done,
  });
  for (let i = 1; i <= 10; i++) {
    now = i * 1000;
    sink(report(i * 1024, i === 10));
  }
  assert.deepEqual(log, [1024, 6144, 10_240], "the log: the first, one per 5 s, and the last");
  assert.equal(tty.length, 10, "the terminal: every report");
  assert.ok(tty.slice(0, 9).every((t) => t.startsWith("\r") && !t.endsWith("\n")));
  assert.match(tty[9], /^\rpulling image: .*100%.*\n$/);
});
