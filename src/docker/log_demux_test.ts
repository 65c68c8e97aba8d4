import assert from "node:assert/strict";
import fc from "fast-check";
import { demultiplex, type LogStream, TailBuffer } from "./log_demux.ts";

function frame(stream: 1 | 2, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + payload.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

function streamOf(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of [...points, bytes.length]) {
    if (p > last) chunks.push(bytes.slice(last, p));
    last = p;
  }
  return ReadableStream.from(chunks);
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

Deno.test("frames split at any byte boundary demultiplex into the same lines on the right streams", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom<1 | 2>(1, 2), fc.stringMatching(/^[a-z é]{0,12}\n?$/)), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      async (frames, cuts) => {
        const bytes = concat(frames.map(([s, t]) => frame(s, t)));
        const expected: Record<LogStream, string> = { stdout: "", stderr: "" };
        for (const [s, t] of frames) expected[s === 2 ? "stderr" : "stdout"] += t;
        const got: Record<LogStream, string[]> = { stdout: [], stderr: [] };
        const totals = await demultiplex(streamOf(bytes, cuts), (s, l) => got[s].push(l));
        for (const s of ["stdout", "stderr"] as const) {
          const lines = expected[s].split("\n");
          if (lines[lines.length - 1] === "") lines.pop();
          assert.deepEqual(got[s], lines);
        }
        assert.equal(totals.stdoutBytes, new TextEncoder().encode(expected.stdout).length);
        assert.equal(totals.stderrBytes, new TextEncoder().encode(expected.stderr).length);
      },
    ),
  );
});

Deno.test("a line split over frames of one stream is joined even when the other stream interleaves", async () => {
  const bytes = concat([frame(1, "hel"), frame(2, "oops\n"), frame(1, "lo\n")]);
  const got: string[] = [];
  await demultiplex(ReadableStream.from([bytes]), (s, l) => got.push(`${s}:${l}`));
  assert.deepEqual(got, ["stderr:oops", "stdout:hello"]);
});

Deno.test("an overlong line is cut at the cap and the rest of it is skipped, not buffered", async () => {
  const got: string[] = [];
  await demultiplex(ReadableStream.from([frame(1, "x".repeat(100) + "\nnext\n")]), (_s, l) => got.push(l), {
    maxLine: 10,
  });
  assert.deepEqual(got, ["xxxxxxxxxx …[line cut at 10 bytes]", "next"]);
});

Deno.test("tail buffer keeps only the last bytes", () => {
  const tail = new TailBuffer(10);
  for (let i = 0; i < 100; i++) tail.push(`line ${i}`);
  assert.ok(tail.text().length <= 10);
  assert.ok(tail.text().endsWith("line 99"));
  const one = new TailBuffer(5);
  one.push("abcdefghij");
  assert.equal(one.text(), "fghij");
  const none = new TailBuffer(0);
  none.push("x");
  assert.equal(none.text(), "");
});
