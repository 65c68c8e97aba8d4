import assert from "node:assert/strict";
import { BlockBuffers } from "./block_buffers.ts";

Deno.test("a buffer comes back to the pool only if adopted, whole, and once", () => {
  const pool = new BlockBuffers(1024 * 1024);
  const a = pool.take(1000);
  pool.give(a);
  assert.equal(pool.freeBytes, 0, "not adopted: ignored");
  pool.adopt(a);
  pool.give(a);
  pool.give(a);
  assert.equal(pool.freeBytes, 1000, "given once, the second give ignored");
  assert.equal(pool.take(1000), a, "taken again");
  assert.notEqual(pool.take(1000), a, "and only once");
  const big = new Uint8Array(2000);
  const part = big.subarray(0, 1000);
  pool.adopt(part);
  pool.give(part);
  assert.equal(pool.freeBytes, 0, "a view of part of a buffer is never pooled");
  assert.notEqual(pool.take(999).byteLength, 1000, "sizes are exact");
});

Deno.test("the pool holds at most its bound", () => {
  const pool = new BlockBuffers(3000);
  const bufs = [pool.take(1000), pool.take(1000), pool.take(1000), pool.take(1000)];
  for (const b of bufs) {
    pool.adopt(b);
    pool.give(b);
  }
  assert.equal(pool.freeBytes, 3000);
});
