import assert from "node:assert/strict";
import { AGENT_V8_FLAGS, AGENT_V8_FLAGS_ARG } from "./runtime_flags.ts";

Deno.test("every documented way to start the daemon carries the agent's V8 flags", async () => {
  const root = new URL("../", import.meta.url);
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  assert.ok((deno.tasks.start as string).includes(AGENT_V8_FLAGS_ARG), "deno task start");
  for (const file of ["scripts/compile.ts", "scripts/dev.ts", "tests/support/agent_process.ts"]) {
    assert.match(await Deno.readTextFile(new URL(file, root)), /AGENT_V8_FLAGS_ARG/, file);
  }
  assert.ok((await Deno.readTextFile(new URL("docs/install.md", root))).includes(AGENT_V8_FLAGS_ARG), "install.md");
});

Deno.test("the V8 flags are accepted by this Deno and cap the young generation", async () => {
  // A child that churns short-lived objects: with the flag its heap stays small; V8 refuses unknown flags loudly.
  const code = `for (let i = 0; i < 300; i++) { Array.from({ length: 20000 }, (_, j) => ({ j })); }
    console.log(Deno.memoryUsage().heapTotal);`;
  const run = async (flags: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", ...flags, code], stderr: "piped" }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stderr).includes("Error"), false);
    return Number(new TextDecoder().decode(out.stdout).trim());
  };
  const capped = await run([AGENT_V8_FLAGS_ARG]);
  const plain = await run([]);
  assert.ok(capped < plain, `heap with ${AGENT_V8_FLAGS}: ${capped} bytes, without: ${plain}`);
});
