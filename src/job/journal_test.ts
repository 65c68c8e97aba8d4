import assert from "node:assert/strict";
import { JobJournal, SENT_MARK_DELAY_MS } from "./journal.ts";
import { buildStatus } from "./status.ts";

const status = (jobId: string, s: "processing" | "completed" | "failed", attempt: number) =>
  buildStatus({ agentAddress: "0x" + "a".repeat(40), jobId, status: s, attempt });

Deno.test("journal survives reopening: states, final status, ordered outbox, unfinished list", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = JobJournal.pathIn(dir);
    {
      using j = JobJournal.open(path);
      j.insertReceived("a", { jobId: "a", imageName: "busybox", outputPath: "/output" });
      assert.equal(
        j.accept("a", { jobId: "a", imageName: "busybox", outputPath: "/output" }, (n) => status("a", "processing", n)),
        1,
      );
      j.setState("a", "running");
      j.insertReceived("b", undefined);
      j.finish("b", { ...status("b", "failed", 0), reason: "invalid_job" });
      assert.throws(() => j.insertReceived("b", undefined));
    }
    using j = JobJournal.open(path);
    assert.equal(j.get("a")?.state, "running");
    assert.equal(j.get("b")?.reason, "invalid_job");
    assert.deepEqual(j.listUnfinished().map((r) => r.jobId), ["a"]);
    const unsent = j.unsent();
    assert.deepEqual(unsent.map((e) => e.msgId), ["a:1:processing", "b:0:failed"]);
    j.markSent(unsent[0].seq);
    assert.equal(j.unsentCount(), 1);
    assert.ok(j.republishFinal("b"));
    assert.ok(!j.republishFinal("a"), "an unfinished job has no final status");
    assert.deepEqual(j.unsent().map((e) => e.msgId), ["b:0:failed", "b:0:failed"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sent marks: at once for this process, written in one batch later; unwritten ones are published again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/journal.db`;
    using j = JobJournal.open(path);
    for (const id of ["a", "b", "c"]) {
      j.insertReceived(id, undefined);
      j.finish(id, { ...status(id, "failed", 0), reason: "invalid_job" });
    }
    const [a, b, c] = j.unsent();
    j.markSent(a.seq);
    j.markSent(b.seq);
    assert.deepEqual(j.unsent().map((e) => e.seq), [c.seq], "this process sees the marks at once");
    assert.equal(j.unsentCount(), 1);
    {
      // Another reader (or the next start after a crash) sees nothing written yet: both would be published again.
      using other = JobJournal.open(path);
      assert.equal(other.unsentCount(), 3);
    }
    j.flushSentMarks();
    {
      using other = JobJournal.open(path);
      assert.deepEqual(other.unsent().map((e) => e.seq), [c.seq], "one write marked both");
      assert.equal(other.statusesOf("a")[0].sentAt !== undefined, true);
    }
    j.markSent(c.seq);
    await new Promise((r) => setTimeout(r, SENT_MARK_DELAY_MS + 200));
    using later = JobJournal.open(path);
    assert.equal(later.unsentCount(), 0, "written on its own within SENT_MARK_DELAY_MS");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
