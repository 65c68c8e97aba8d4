import assert from "node:assert/strict";
import { timeoutSignal } from "./timers.ts";

Deno.test("timeoutSignal aborts with a TimeoutError after its delay", async () => {
  const signal = timeoutSignal(20);
  assert.equal(signal.aborted, false);
  // The signal's own timer is unref'd; a ref'd one keeps the test's event loop alive meanwhile.
  let keepAlive: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    new Promise((r) => signal.addEventListener("abort", r, { once: true })),
    new Promise((r) => keepAlive = setTimeout(r, 5000)),
  ]);
  clearTimeout(keepAlive);
  assert.equal(signal.aborted, true);
  assert.equal((signal.reason as DOMException).name, "TimeoutError");
});

Deno.test("a pending timeoutSignal does not keep the process alive", async () => {
  const code = `import { timeoutSignal } from ${JSON.stringify(new URL("./timers.ts", import.meta.url).href)};
    timeoutSignal(60000).addEventListener("abort", () => {});`;
  const t0 = Date.now();
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "null", stderr: "piped" })
    .output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.ok(Date.now() - t0 < 20_000, "the process exited without waiting for the deadline");
});

Deno.test("backoffDelay doubles per attempt within [ceiling/2, ceiling] and stops at the cap", async () => {
  const { backoffDelay } = await import("./timers.ts");
  assert.equal(backoffDelay(0, 100, 5000, () => 0), 50);
  assert.equal(backoffDelay(0, 100, 5000, () => 1), 100);
  assert.equal(backoffDelay(3, 100, 5000, () => 1), 800);
  assert.equal(backoffDelay(10, 100, 5000, () => 1), 5000);
  assert.equal(backoffDelay(1000, 100, 5000, () => 0), 2500, "huge attempt counts stay finite");
});
