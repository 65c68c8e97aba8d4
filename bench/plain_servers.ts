/**
 * Servers for the storage benchmarks that are not the bottleneck of what they measure (not a test):
 *
 * - `--car FILE`: serves one pre-made CAR for every `GET /ipfs/...`, as a trustless gateway would (the same bytes the
 *   local service's gateway sends), straight from the file, to whoever asks: `curl -o` and the agent alike.
 * - `--sink CID`: a discarding `pinFileToIPFS`: reads the request body to its `Content-Length` and throws it away,
 *   then answers Pinata's JSON naming `CID` (which the caller computed beforehand, so the agent's check still runs).
 *
 * Plain TCP, one connection at a time per socket, no HTTP framework: they cost next to nothing of the CPU the client
 * needs. Prints its URL on stdout, then runs until killed.
 *
 *   deno run -A bench/plain_servers.ts --car big.car | --sink bafy...
 */
import { parseArgs } from "node:util";

const args = parseArgs({ args: Deno.args, options: { car: { type: "string" }, sink: { type: "string" } } });
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
const enc = new TextEncoder();

for await (const conn of listener) void serve(conn).catch(() => {}).finally(() => conn.close());

/** Reads one request head (up to the empty line); returns it and whatever body bytes came with it. */
async function readHead(conn: Deno.Conn, buf: Uint8Array): Promise<{ head: string; rest: Uint8Array } | undefined> {
  let got = 0;
  while (true) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) return undefined;
    got += n;
    const text = new TextDecoder().decode(buf.subarray(0, got));
    const end = text.indexOf("\r\n\r\n");
    if (end !== -1) return { head: text.slice(0, end), rest: buf.slice(end + 4, got) };
    if (got === buf.length) throw new Error("request head too long");
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

async function serve(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1 << 20);
  while (true) {
    const req = await readHead(conn, buf);
    if (!req) break;
    if (!args.values.car) return await sink(conn, req.head, req.rest.byteLength, buf, args.values.sink!);
    await sendCar(conn, args.values.car);
  }
}

async function sendCar(conn: Deno.Conn, path: string): Promise<void> {
  const size = (await Deno.stat(path)).size;
  await writeAll(
    conn,
    enc.encode(
      `HTTP/1.1 200 OK\r\ncontent-type: application/vnd.ipld.car;version=1;order=dfs;dups=n\r\n` +
        `content-length: ${size}\r\n\r\n`,
    ),
  );
  using file = await Deno.open(path);
  const chunk = new Uint8Array(1 << 20);
  while (true) {
    const n = await file.read(chunk);
    if (n === null) break;
    await writeAll(conn, chunk.subarray(0, n));
  }
}

async function sink(conn: Deno.Conn, head: string, already: number, buf: Uint8Array, cid: string): Promise<void> {
  const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
  if (!Number.isFinite(length)) throw new Error("the sink takes bodies with a Content-Length only");
  if (/\r\nexpect:\s*100-continue/i.test(head)) await writeAll(conn, enc.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  let left = length - already;
  while (left > 0) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("body cut short");
    left -= n;
  }
  const body = JSON.stringify({ IpfsHash: cid, PinSize: length, Timestamp: new Date().toISOString() });
  await writeAll(
    conn,
    enc.encode(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n` +
        `connection: close\r\n\r\n${body}`,
    ),
  );
}
