import assert from "node:assert/strict";
import { parseEnvFile } from "./env_file.ts";

Deno.test(".env values are read with their line numbers", () => {
  const f = parseEnvFile(
    ".env",
    [
      "# comment",
      "",
      "LOG_LEVEL=debug",
      "export NATS_URL=nats://a:4222",
      'PINATA_JWT="quoted value"',
      'MULTI="line one',
      'line two"',
      "AFTER=1",
    ].join("\n"),
  );
  assert.deepEqual(f.problems, []);
  assert.deepEqual(f.entries.get("LOG_LEVEL"), { value: "debug", line: 3 });
  assert.deepEqual(f.entries.get("NATS_URL"), { value: "nats://a:4222", line: 4 });
  assert.equal(f.entries.get("PINATA_JWT")?.value, "quoted value");
  assert.equal(f.entries.get("MULTI")?.value, "line one\nline two");
  assert.equal(f.entries.get("AFTER")?.line, 8);
});

Deno.test("a malformed .env line is reported with its line number, and its content is not echoed", () => {
  const secret = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
  const f = parseEnvFile("/etc/agent.env", `LOG_LEVEL=info\n${secret}\n = nothing\nOK=1\n`);
  assert.deepEqual(f.problems.map((p) => p.line), [2, 3]);
  assert.match(f.problems[0].message, /expected KEY=value/);
  assert.ok(!f.problems[0].message.includes(secret.slice(8)), "the malformed line must not be echoed whole");
  assert.equal(f.entries.get("OK")?.value, "1");
});

Deno.test("an unterminated quoted value is reported", () => {
  const f = parseEnvFile(".env", 'A="open\nB=2\n');
  assert.equal(f.problems.length, 1);
  assert.match(f.problems[0].message, /unterminated/);
});
