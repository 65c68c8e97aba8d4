import assert from "node:assert/strict";
import fc from "fast-check";
import { multipartBody } from "./multipart_body.ts";
import { boundaryOf, MultipartError, readMultipart } from "./multipart_reader.ts";

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Re-chunks `bytes` at the given cut points. */
function chunked(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) pieces.push(bytes.slice(prev, p));
    prev = Math.max(prev, p);
  }
  return ReadableStream.from(pieces);
}

Deno.test("multipart bodies built from disk parse back to the same fields and bytes under any chunking", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(20_000), { maxLength: 40 }),
        async (contents, cuts) => {
          const parts = [{ name: "pinataOptions", value: '{"cidVersion":1}' }] as Parameters<typeof multipartBody>[0];
          for (const [i, c] of contents.entries()) {
            await Deno.writeFile(`${dir}/${i}`, c);
            parts.push({ name: "file", filename: `out/d "q"/${i}.bin`, path: `${dir}/${i}`, size: c.length });
          }
          const body = multipartBody(parts);
          const bytes = await collect(body.stream());
          assert.equal(bytes.length, body.length, "announced length matches the bytes sent");
          const seen: { name: string; filename?: string; data: Uint8Array }[] = [];
          for await (const part of readMultipart(chunked(bytes, cuts), boundaryOf(body.contentType))) {
            seen.push({
              name: part.name,
              filename: part.filename,
              data: await collect(ReadableStream.from(part.body)),
            });
          }
          assert.equal(seen.length, contents.length + 1);
          assert.equal(new TextDecoder().decode(seen[0].data), '{"cidVersion":1}');
          contents.forEach((c, i) => {
            assert.equal(seen[i + 1].filename, `out/d "q"/${i}.bin`);
            assert.deepEqual(seen[i + 1].data, c);
          });
        },
      ),
      { numRuns: 60 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a multipart body cut off inside a part is an error, not a short file", async () => {
  const body = new TextEncoder().encode(
    '--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nabcdef',
  );
  const parts = readMultipart(ReadableStream.from([body]), "b");
  const first = await parts.next();
  assert.ok(!first.done);
  await assert.rejects(async () => {
    for await (const _ of first.value.body) { /* consume */ }
  }, MultipartError);
});

Deno.test("a non-multipart content type is refused", () => {
  assert.throws(() => boundaryOf("application/json"), MultipartError);
  assert.equal(boundaryOf('multipart/form-data; boundary="abc"'), "abc");
});
