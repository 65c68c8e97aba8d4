import assert from "node:assert/strict";
import { JobJournal } from "./journal.ts";
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
