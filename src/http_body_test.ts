import assert from "node:assert/strict";
import { ERROR_BODY_BYTES, readBodyPrefix } from "./http_body.ts";

const MiB = 1024 * 1024;

/** A server answering 500 with a 50 MiB body, produced only as the client reads; `produced` counts what it made. */
function hugeErrorServer() {
  const chunk = new Uint8Array(64 * 1024).fill(0x78); // "x"
  const state = { produced: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (state.produced >= 50 * MiB) return ctl.close();
        state.produced += chunk.length;
        ctl.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    return new Response(body, { status: 500 });
  });
  return Object.assign(state, {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  });
}

Deno.test("a 500 with a 50 MiB body is read to 4 KiB at once and the rest is never received", async () => {
  await using server = hugeErrorServer();
  const began = performance.now();
  const res = await fetch(server.url);
  const text = await readBodyPrefix(res);
  assert.equal(res.status, 500);
  assert.equal(text, "x".repeat(ERROR_BODY_BYTES));
  assert.ok(performance.now() - began < 2000, `took ${performance.now() - began} ms`);
  // Socket buffers hold a few MiB at most; the body was cut, not drained.
  assert.ok(server.produced < 16 * MiB, `the server produced ${(server.produced / MiB).toFixed(1)} MiB`);
});

Deno.test("a short body is read whole; a multi-byte character cut at the limit is dropped, not mangled", async () => {
  assert.equal(await readBodyPrefix(new Response("no such container")), "no such container");
  assert.equal(await readBodyPrefix(new Response(null, { status: 500 })), "");
  // "é" is two bytes: a limit of 4 cuts the second "é" in half.
  assert.equal(await readBodyPrefix(new Response("aéé"), 4), "aé");
});

Deno.test("a body that stalls gives what arrived before the stall", async () => {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  ctl.enqueue(new TextEncoder().encode("partial "));
  const began = performance.now();
  assert.equal(await readBodyPrefix(new Response(body), 4096, { stallMs: 100 }), "partial ");
  assert.ok(performance.now() - began < 1000);
});

Deno.test("a body that breaks gives what arrived before the break", async () => {
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent) return c.error(new Error("connection reset"));
      sent = true;
      c.enqueue(new TextEncoder().encode("half a message"));
    },
  });
  assert.equal(await readBodyPrefix(new Response(body)), "half a message");
});
