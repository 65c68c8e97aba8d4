import assert from "node:assert/strict";
import { defaultMaxConcurrent, Scheduler } from "./scheduler.ts";

Deno.test("default concurrency is one job per GPU, and 1 on a CPU-only host", () => {
  assert.equal(defaultMaxConcurrent(["GPU-a", "GPU-b"]), 2);
  assert.equal(defaultMaxConcurrent(["cpu-0"]), 1);
  assert.equal(defaultMaxConcurrent([]), 1);
});

Deno.test("a job asking for N GPUs waits for N free ones and gets them by UUID", () => {
  const s = new Scheduler({ gpuUuids: ["GPU-a", "GPU-b", "GPU-c"], maxConcurrent: 3 });
  s.enqueue("one", 1);
  assert.deepEqual(s.admit(), [{ jobId: "one", gpuUuids: ["GPU-a"] }]);
  s.enqueue("three", 3);
  s.enqueue("small", 1);
  assert.deepEqual(s.admit(), [], "strict FIFO: the 3-GPU job at the head blocks, the small one waits behind it");
  s.release("one");
  assert.deepEqual(s.admit(), [{ jobId: "three", gpuUuids: ["GPU-a", "GPU-b", "GPU-c"] }]);
  s.release("three");
  assert.deepEqual(s.admit(), [{ jobId: "small", gpuUuids: ["GPU-a"] }]);
});

Deno.test("concurrency limit, bounded queue and impossible GPU counts", () => {
  const s = new Scheduler({ gpuUuids: ["cpu-0"], queueSize: 1 });
  assert.equal(s.check(2), "too_many_gpus");
  s.enqueue("a", 0);
  s.enqueue("b", 0);
  assert.equal(s.admit().length, 1);
  assert.equal(s.freeSlots, 0);
  assert.equal(s.check(0), "queue_full");
  assert.ok(s.dequeue("b"));
  assert.equal(s.check(0), "ok");
  assert.throws(() => s.enqueue("a", 0));
});

Deno.test("drained GPUs are not handed out: jobs wait for healthy ones, and get them back when the drain ends", () => {
  const s = new Scheduler({ gpuUuids: ["g0", "g1", "g2"], maxConcurrent: 3, queueSize: 4 });
  s.setDrained(["g0", "unknown"]);
  assert.deepEqual(s.drainedGpus, ["g0"]);
  assert.deepEqual(s.freeGpus, ["g1", "g2"]);
  assert.equal(s.check(3), "gpus_unhealthy", "needs more GPUs than are healthy");
  assert.equal(s.check(4), "too_many_gpus");
  s.enqueue("a", 1);
  s.enqueue("b", 1);
  s.enqueue("c", 1);
  assert.deepEqual(s.admit().map((x) => x.gpuUuids), [["g1"], ["g2"]]);
  assert.equal(s.freeSlots, 0, "no healthy GPU left");
  assert.deepEqual(s.jobsOn(["g2"]), ["b"]);
  s.setDrained([]);
  assert.deepEqual(s.admit(), [{ jobId: "c", gpuUuids: ["g0"] }]);
});
