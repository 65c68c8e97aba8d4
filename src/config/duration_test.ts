import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "./duration.ts";

Deno.test("Go-style durations parse to milliseconds", () => {
  const cases: [string, number | undefined][] = [
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
    ["1.5s", 1500],
    ["0", 0],
    ["2h0m1s", 7_201_000],
    ["30", undefined],
    ["", undefined],
    ["5 m", undefined],
    ["-5s", undefined],
    ["1d", undefined],
    ["s", undefined],
    ["10s junk", undefined],
  ];
  for (const [input, want] of cases) {
    assert.equal(parseDuration(input), want, `parseDuration(${JSON.stringify(input)})`);
  }
});

Deno.test("durations format back to a short Go-style string", () => {
  assert.equal(formatDuration(5_400_000), "1h30m");
  assert.equal(formatDuration(45_000), "45s");
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(0), "0s");
  for (const ms of [1000, 61_000, 3_600_000, 3_723_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
});
