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
  // A child that churns short-lived objects, then reports its young generation's size (what the flag caps; the total
  // heap depends on when the last collection ran). V8 refuses unknown flags loudly.
  const code = `import v8 from "node:v8";
    for (let i = 0; i < 300; i++) { Array.from({ length: 20000 }, (_, j) => ({ j })); }
    console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);`;
  const run = async (flags: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", ...flags, code], stderr: "piped" }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stderr).includes("Error"), false);
    return Number(new TextDecoder().decode(out.stdout).trim());
  };
  const capped = await run([AGENT_V8_FLAGS_ARG]);
  const plain = await run([]);
  // Two semi-spaces of at most 1 MiB each; V8's default lets them grow to 16 MiB or more under this churn.
  assert.ok(capped <= 2 * 1024 * 1024, `young generation with ${AGENT_V8_FLAGS}: ${capped} bytes`);
  assert.ok(plain > capped, `young generation without the flag: ${plain} bytes, with: ${capped}`);
});
