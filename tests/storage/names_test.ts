/**
 * Output and input names: every name a job can write either travels intact (same bytes on the service, local and
 * pinned CIDs equal) or is refused before any byte is sent, with `upload_failed` and a message naming the entry and
 * the rule. The multipart encoding is checked against parsers the project did not write: undici (Node's fetch, which
 * follows the WHATWG parsing rules), busboy (under multer and most Node upload services) and Deno's `formData()`.
 */
import assert from "node:assert/strict";
import busboy from "busboy";
import { Response as UndiciResponse } from "undici";
import { computeDirectoryCid, type StorageError } from "../../src/storage/mod.ts";
import { multipartBody } from "../../src/storage/multipart_body.ts";
import { boundaryOf, readMultipart } from "../../src/storage/multipart_reader.ts";
import { startFaultyPinata } from "./faulty_pinata.ts";
import { localStack, storeDirectoryNamed } from "./support.ts";
import { Storage } from "../../src/storage/mod.ts";

type Stack = Awaited<ReturnType<typeof localStack>>;

const AGENT = "0x" + "ab".repeat(20);
const enc = new TextEncoder();

/** Names the upload carries intact. */
const CARRIED = [
  "with space.txt",
  " leading and trailing ",
  "it's.txt",
  'say "hi".txt',
  "back\\slash.txt",
  "two\\\\backslashes",
  "trailing\\",
  "100% done",
  "%41%25%2F%20",
  "semi;colon=equals",
  "日本語 é ü",
  "emoji 🎉",
  "...",
  ".hidden",
  "é".repeat(127) + "a", // 255 bytes
];

Deno.test("the 255-byte name in the list is 255 bytes", () => {
  assert.equal(enc.encode(CARRIED.at(-1)!).byteLength, 255);
});

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** A test title's view of a name: long ones abridged. */
function shown(name: string): string {
  const bytes = enc.encode(name).byteLength;
  return bytes > 40 ? `${JSON.stringify(name.slice(0, 8))}… (${bytes} bytes)` : JSON.stringify(name);
}

for (const name of CARRIED) {
  Deno.test(`an output named ${shown(name)} uploads intact: same CID on the service, same names back`, async () => {
    await using stack = await localStack();
    const out = `${stack.dir}/out`;
    await Deno.mkdir(`${out}/sub`, { recursive: true });
    await Deno.writeTextFile(`${out}/${name}`, name);
    await Deno.writeTextFile(`${out}/sub/${name}`, "nested");
    const local = String(await computeDirectoryCid(out));
    const res = await stack.storage.uploadOutput(out, { jobId: "names", agentAddress: AGENT });
    assert.equal(res.cid, local, "the service rebuilt the same directory");
    const back = `${stack.dir}/back`;
    await stack.storage.fetchInput(res.cid, back);
    assert.deepEqual(await names(back), [name, "sub"].sort());
    assert.deepEqual(await names(`${back}/sub`), [name]);
    assert.equal(await Deno.readTextFile(`${back}/${name}`), name);
  });
}

/** The multipart body the upload sends for `CARRIED`, one part per name, each under its own field name. */
async function carriedBody(): Promise<
  { bytes: Uint8Array<ArrayBuffer>; contentType: string; filenames: Map<string, string> }
> {
  const dir = await Deno.makeTempDir();
  try {
    const filenames = new Map<string, string>();
    const parts = CARRIED.map((name, i) => {
      filenames.set(`f${i}`, `output/${name}`);
      return { name: `f${i}`, filename: `output/${name}`, path: `${dir}/${i}`, size: 1 };
    });
    for (const p of parts) await Deno.writeFile(p.path, Uint8Array.of(0x78));
    const body = multipartBody(parts);
    const bytes = new Uint8Array(await new Response(body.stream()).arrayBuffer());
    return { bytes, contentType: body.contentType, filenames };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function fileNames(form: FormData): Map<string, string> {
  const got = new Map<string, string>();
  for (const [field, value] of form.entries()) if (typeof value !== "string") got.set(field, value.name);
  return got;
}

Deno.test("the project's own multipart parser (the local service's) reads back every carried name", async () => {
  const { bytes, contentType, filenames } = await carriedBody();
  const got = new Map<string, string>();
  for await (const part of readMultipart(ReadableStream.from([bytes]), boundaryOf(contentType))) {
    got.set(part.name, part.filename!);
    for await (const _ of part.body) { /* drain */ }
  }
  assert.deepEqual(got, filenames);
});

Deno.test("undici's formData() (WHATWG parsing, Node's fetch) reads back every carried name exactly", async () => {
  const { bytes, contentType, filenames } = await carriedBody();
  const form = await new UndiciResponse(bytes, { headers: { "content-type": contentType } }).formData();
  assert.deepEqual(fileNames(form as unknown as FormData), filenames);
});

Deno.test("Deno's formData() reads back every carried name except its known deviations (%22 kept, cut at ; and =)", async () => {
  const { bytes, contentType, filenames } = await carriedBody();
  const got = fileNames(
    await new Request("http://x/", { method: "POST", body: bytes, headers: { "content-type": contentType } })
      .formData(),
  );
  for (const [field, sent] of filenames) {
    if (/[;=]/.test(sent)) {
      // Deno 2.9 splits Content-Disposition on ";" and "=" without regard to quotes.
      assert.notEqual(got.get(field), sent, `Deno now parses ${sent}: move it to the exact list`);
    } else {
      // Deno 2.9 does not decode the WHATWG escapes; everything else arrives as sent.
      assert.equal(got.get(field), sent.replaceAll('"', "%22"), field);
    }
  }
});

Deno.test("busboy reads back every carried name except its known deviations (%22 kept, backslash pairs as escapes)", async () => {
  const { bytes, contentType, filenames } = await carriedBody();
  const got = new Map<string, string>();
  await new Promise<void>((resolve, reject) => {
    // preservePath: a pinning service must keep the directories in file names.
    const bb = busboy({ headers: { "content-type": contentType }, preservePath: true, defParamCharset: "utf8" });
    bb.on("file", (field: string, stream: { resume(): void }, info: { filename: string }) => {
      got.set(field, info.filename);
      stream.resume();
    });
    bb.on("close", resolve);
    bb.on("error", reject);
    bb.end(bytes);
  });
  for (const [field, sent] of filenames) {
    if (sent.endsWith("\\")) {
      assert.notEqual(got.get(field), sent, "a final backslash escapes the closing quote for busboy");
    } else {
      assert.equal(got.get(field), sent.replaceAll('"', "%22").replaceAll("\\\\", "\\"), field);
    }
  }
});

/** Names refused on the way out, with the rule their message must name. */
const REFUSED: [string, RegExp][] = [
  ["line\nbreak", /control character U\+000A/],
  ["carriage\rreturn", /control character U\+000D/],
  ["tab\there", /control character U\+0009/],
  ["del\x7f", /control character U\+007F/],
  ["literal%22quote", /contains %22, which multipart parsers decode to a double quote/],
  ["literal%0Aline", /contains %0A, which multipart parsers decode to a line break/],
  ["literal%0dline", /contains %0d/],
  ["has\ufffdreplacement", /not valid UTF-8/],
];

/** A storage uploading through a counting proxy, to prove nothing was sent. */
function counted(stack: Stack) {
  const proxy = startFaultyPinata(stack.service.port, []);
  return { proxy, storage: new Storage({ ...stack.config, pinataApiUrl: proxy.url }, stack.logger) };
}

async function refusal(stack: Stack, make: (out: string) => Promise<void>): Promise<StorageError> {
  const { proxy, storage } = counted(stack);
  await using _ = proxy;
  const out = `${stack.dir}/out-${crypto.randomUUID()}`;
  await Deno.mkdir(`${out}/sub`, { recursive: true });
  await Deno.writeTextFile(`${out}/fine.txt`, "ok");
  await make(out);
  const error = await storage.uploadOutput(out, { jobId: "refused", agentAddress: AGENT }).then(
    () => assert.fail("the upload should have been refused"),
    (e) => e,
  );
  assert.equal(error.reason, "upload_failed", error.message);
  assert.equal(error.detail, "unsafe_name");
  assert.equal(proxy.connections, 0, "no byte was sent");
  assert.deepEqual(await storage.listSpooledOutputs(), [], "nothing was spooled");
  return error;
}

for (const [name, rule] of REFUSED) {
  Deno.test(`an output entry named ${JSON.stringify(name)} is refused before any byte is sent, naming it and the rule`, async () => {
    await using stack = await localStack();
    const error = await refusal(stack, (out) => Deno.writeTextFile(`${out}/sub/${name}`, "x"));
    assert.match(error.message, rule);
    const shown = JSON.stringify(`sub/${name}`).replace("\x7f", "\\u007f").replace("\ufffd", "\\ufffd");
    assert.ok(error.message.includes(shown), `${error.message} names ${shown}`);
    assert.doesNotMatch(error.message, /[\n\r\t\x7f\ufffd]/, "the message itself is one clean line");
  });
}

Deno.test("an output file whose name is not valid UTF-8 is refused as upload_failed (never internal_error)", async () => {
  await using stack = await localStack();
  const error = await refusal(stack, async (out) => {
    // Deno cannot write such a name; the shell can: bytes 'a', 0xFF, 'b'.
    const made = await new Deno.Command("sh", { args: ["-c", `touch "$(printf 'a\\377b')"`], cwd: `${out}/sub` })
      .output();
    assert.ok(made.success);
  });
  assert.match(error.message, /Output entry "sub\/a\\ufffdb" is not valid UTF-8/);
});

Deno.test("a directory whose name breaks the rule is refused like a file", async () => {
  await using stack = await localStack();
  const error = await refusal(stack, async (out) => {
    await Deno.mkdir(`${out}/sub/bad\ndir`);
    await Deno.writeTextFile(`${out}/sub/bad\ndir/x`, "x");
  });
  assert.ok(error.message.includes('"sub/bad\\ndir"'), error.message);
});

// The same rule on the way in: a name that could not be uploaded again is not written to a job's input either.

for (const name of ["back\\slash", 'say "hi"', "100% done", "semi;colon=equals", "é".repeat(127) + "a"]) {
  Deno.test(`an input directory entry named ${shown(name)} is written as it is`, async () => {
    await using stack = await localStack();
    const cid = await storeDirectoryNamed(stack, name);
    const dest = `${stack.dir}/in`;
    await stack.storage.fetchInput(cid, dest);
    assert.deepEqual(await names(dest), [name]);
    assert.equal(await Deno.readTextFile(`${dest}/${name}`), "pwned\n");
  });
}

const REFUSED_IN: [string | Uint8Array, RegExp][] = [
  ["line\nbreak", /control character U\+000A/],
  ["literal%22quote", /contains %22/],
  ["a".repeat(256), /256 bytes long \(at most 255\)/],
  [Uint8Array.of(0x61, 0xff, 0x62), /"a\\ufffdb": the name is not valid UTF-8/],
];

for (const [name, rule] of REFUSED_IN) {
  const title = typeof name === "string" ? shown(name) : "a\\xFFb (not UTF-8)";
  Deno.test(`an input directory entry named ${title} fails the input (unsafe_name), nothing written`, async () => {
    await using stack = await localStack();
    const cid = await storeDirectoryNamed(stack, name);
    const dest = `${stack.dir}/in`;
    const error = await stack.storage.fetchInput(cid, dest).then(() => assert.fail("expected a refusal"), (e) => e);
    assert.equal(error.reason, "input_fetch_failed");
    assert.equal(error.detail, "unsafe_name");
    assert.match(error.message, rule);
    assert.deepEqual(await names(dest), []);
  });
}

Deno.test("a CID mismatch names the output's paths that multipart parsers read differently, as the likely cause", async () => {
  await using stack = await localStack();
  // A service that answers with another CID: what a parser keeping %22 as text would cause.
  await using proxy = startFaultyPinata(stack.service.port, ["bogus_cid"]);
  const storage = new Storage({ ...stack.config, pinataApiUrl: proxy.url }, stack.logger);
  const out = `${stack.dir}/out`;
  await Deno.mkdir(`${out}/d`, { recursive: true });
  await Deno.writeTextFile(`${out}/d/say "hi".txt`, "x");
  await Deno.writeTextFile(`${out}/plain.txt`, "x");
  const error = await storage.uploadOutput(out, { jobId: "mm", agentAddress: AGENT }).then(
    () => assert.fail("expected a mismatch"),
    (e) => e,
  );
  assert.equal(error.detail, "cid_mismatch");
  assert.ok(error.message.includes('("d/say \\"hi\\".txt")'), error.message);
  assert.match(error.message, /the service may have stored other names$/);
  assert.ok(!error.message.includes("plain.txt"));
});
