import assert from "node:assert/strict";
import { type DoctorCheck, exitCodeOf, fail, formatReport, pass, runChecks, warn } from "./doctor_report.ts";

function check(name: string, run: DoctorCheck["run"], timeoutMs?: number): DoctorCheck {
  return { name, local: true, fix: `fix ${name}`, run, timeoutMs };
}

Deno.test("a check that throws fails with its fix and does not stop the others", async () => {
  const results = await runChecks([
    check("boom", () => Promise.reject(new Error("socket\nrefused"))),
    check("fine", () => Promise.resolve(pass("all good"))),
  ], { timeoutMs: 5000 });
  assert.deepEqual(results.map((r) => [r.name, r.level, r.found, r.fix]), [
    ["boom", "fail", "socket refused", "fix boom"],
    ["fine", "pass", "all good", undefined],
  ]);
  assert.equal(exitCodeOf(results), 1);
});

Deno.test("a check that overruns its deadline fails without waiting for it", async () => {
  let aborted = false;
  const started = performance.now();
  const [result] = await runChecks([
    check("slow", (signal) =>
      new Promise(() => {
        signal.addEventListener("abort", () => aborted = true);
      }), 100),
  ], { timeoutMs: 60_000 });
  assert.equal(result.level, "fail");
  assert.match(result.found, /no answer within 0.1 s/);
  assert.equal(result.fix, "fix slow");
  assert.ok(performance.now() - started < 5000);
  assert.ok(aborted, "the check's signal is aborted at the deadline");
});

Deno.test("warnings keep exit code 0; the report shows the fix under warnings and failures only", () => {
  const results = [
    { name: "docker", ...pass("Docker 27"), ms: 1 },
    { name: "clock", ...warn("40 s ahead", "sync the clock"), ms: 1 },
  ];
  assert.equal(exitCodeOf(results), 0);
  const lines = formatReport([...results, { name: "nats", ...fail("refused", "check NATS_URL"), ms: 1 }]);
  assert.match(lines[0], /^PASS\s+docker\s+Docker 27$/);
  assert.match(lines[1], /^WARN\s+clock\s+40 s ahead$/);
  assert.match(lines[2], /^\s+fix: sync the clock$/);
  assert.match(lines[3], /^FAIL\s+nats\s+refused$/);
  assert.match(lines[4], /^\s+fix: check NATS_URL$/);
  assert.equal(lines.at(-1), "1 passed, 1 warning(s), 1 failed");
});

Deno.test("an error the explainer knows gets its own finding and fix instead of the check's generic one", async () => {
  const denied = new Deno.errors.NotCapable('Requires read access to "/run/other.sock"');
  const results = await runChecks([
    check("docker", () => Promise.reject(new Error("connect", { cause: denied }))),
    check("other", () => Promise.reject(new Error("plain"))),
  ], {
    timeoutMs: 5000,
    explain: (error) =>
      (error as Error).cause === denied ? fail("DOCKER_HOST needs read access", "permissions --flags") : undefined,
  });
  assert.deepEqual(results.map((r) => [r.name, r.found, r.fix]), [
    ["docker", "DOCKER_HOST needs read access", "permissions --flags"],
    ["other", "plain", "fix other"],
  ]);
});
