import assert from "node:assert/strict";
import { isUnavailable, parseCsvRows, parseNumber } from "./csv.ts";

Deno.test("every unavailable marker nvidia-smi prints reads as unavailable, readings do not", () => {
  for (
    const v of ["[N/A]", "N/A", "[Not Supported]", "Not Supported", "[Unknown Error]", "", "  ", "[GPU requires reset]"]
  ) {
    assert.equal(isUnavailable(v), true, v);
  }
  for (const v of ["0", "41", "69.85", "Disabled", "0x0000000000000001", "NVIDIA H100 80GB HBM3"]) {
    assert.equal(isUnavailable(v), false, v);
  }
});

Deno.test("numbers parse with or without the units nounits should have removed; N/A is null; garbage is NaN", () => {
  assert.equal(parseNumber("69.85"), 69.85);
  assert.equal(parseNumber("69.85 W"), 69.85);
  assert.equal(parseNumber("0 %"), 0);
  assert.equal(parseNumber("81559 MiB"), 81559);
  assert.equal(parseNumber("[N/A]"), null);
  assert.ok(Number.isNaN(parseNumber("hot")));
});

Deno.test("rows are trimmed, blank and CRLF lines tolerated, odd spacing ignored", () => {
  const rows = parseCsvRows("0,  GPU-1 ,NVIDIA A,   81559\r\n\n1, GPU-2, NVIDIA B, 1\n", 4, 2);
  assert.deepEqual(rows, [["0", "GPU-1", "NVIDIA A", "81559"], ["1", "GPU-2", "NVIDIA B", "1"]]);
});

Deno.test("a comma inside the name column is folded back into the name", () => {
  assert.deepEqual(parseCsvRows("1, GPU-2, Odd, Name, 24564\n", 4, 2), [["1", "GPU-2", "Odd, Name", "24564"]]);
});

Deno.test("a short row is an error naming the line and the field counts", () => {
  assert.throws(() => parseCsvRows("0, GPU-1, A, 1\n0, GPU-2\n", 4, 2), {
    name: "SyntaxError",
    message: "Cannot parse nvidia-smi line 2: expected 4 fields, got 2",
  });
});
