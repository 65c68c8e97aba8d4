import assert from "node:assert/strict";
import { AGENT_RUNTIME_FLAGS, AGENT_V8_FLAGS, AGENT_V8_FLAGS_ARG } from "./runtime_flags.ts";

Deno.test("every documented way to start the daemon carries the agent's runtime flags", async () => {
  const root = new URL("../", import.meta.url);
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const install = await Deno.readTextFile(new URL("docs/install.md", root));
  assert.ok(AGENT_RUNTIME_FLAGS.includes(AGENT_V8_FLAGS_ARG));
  for (const flag of AGENT_RUNTIME_FLAGS) {
    assert.ok((deno.tasks.start as string).split(" ").includes(flag), `deno task start lacks ${flag}`);
    assert.ok(install.split(/\s/).includes(flag), `install.md's bundle command lacks ${flag}`);
  }
  for (const file of ["scripts/compile.ts", "scripts/dev.ts", "tests/support/agent_process.ts"]) {
    assert.match(await Deno.readTextFile(new URL(file, root)), /\.\.\.AGENT_RUNTIME_FLAGS/, file);
  }
});

Deno.test("deno run and deno compile both take every runtime flag", async () => {
  // `deno compile` cannot download its runtime here: its help is what says the flag is accepted.
  for (const sub of ["run", "compile"]) {
    const out = await new Deno.Command(Deno.execPath(), { args: [sub, "--help"], stdout: "piped" }).output();
    const help = new TextDecoder().decode(out.stdout);
    for (const flag of AGENT_RUNTIME_FLAGS) {
      const name = flag.split("=")[0];
      assert.ok(help.includes(`${name} `) || help.includes(`${name}=`), `deno ${sub} does not take ${name}`);
    }
  }
});

Deno.test("with the runtime flags the V8 code cache is not mapped, without them it is", async () => {
  // The cache is a SQLite database in DENO_DIR that Deno maps, once it runs a module file, for the process's life.
  const dir = await Deno.makeTempDir({ prefix: "lamda-flags-" });
  try {
    const main = `${dir}/main.ts`;
    await Deno.writeTextFile(
      main,
      `import "node:path"; await new Promise((r) => setTimeout(r, 200));
      console.log(Deno.readTextFileSync("/proc/self/maps").includes("v8_code_cache"));`,
    );
    const mapped = async (flags: readonly string[]) => {
      const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", ...flags, main], stdout: "piped" })
        .output();
      assert.ok(out.success);
      return new TextDecoder().decode(out.stdout).trim();
    };
    assert.equal(await mapped([AGENT_V8_FLAGS_ARG]), "true", "Deno maps its code cache by default");
    assert.equal(await mapped(AGENT_RUNTIME_FLAGS), "false");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
