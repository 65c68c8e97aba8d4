import assert from "node:assert/strict";
import { AGENT_RUNTIME_ENV, AGENT_RUNTIME_FLAGS, AGENT_V8_FLAGS, AGENT_V8_FLAGS_ARG } from "./runtime_flags.ts";

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
  for (const [name, value] of Object.entries(AGENT_RUNTIME_ENV)) {
    assert.ok((deno.tasks.start as string).startsWith(`${name}=${value} `), `deno task start lacks ${name}=${value}`);
    assert.ok(install.split("\n").includes(`export ${name}=${value}`), `install.md's bundle command lacks ${name}`);
  }
  for (const file of ["scripts/dev.ts", "tests/support/agent_process.ts", "tests/agent/terminal_progress_test.ts"]) {
    assert.match(await Deno.readTextFile(new URL(file, root)), /\.\.\.AGENT_RUNTIME_ENV/, file);
  }
});

Deno.test("with the runtime environment Deno's CLI does not ask dl.deno.land for a newer Deno; without it, it does", async () => {
  // Deno's upgrade check goes through HTTPS_PROXY: a local listener sees its CONNECT, and answers nothing.
  const dir = await Deno.makeTempDir({ prefix: "lamda-update-check-" });
  const proxy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: string[] = [];
  let onSeen = () => {};
  const accepting = (async () => {
    for await (const conn of proxy) {
      const buf = new Uint8Array(1024);
      const n = await conn.read(buf).catch(() => null);
      seen.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0]);
      conn.close();
      onSeen();
    }
  })();
  try {
    // A fresh DENO_DIR: no record of an earlier check. The check starts about 0.5 s after start-up; 4 s is ample.
    await Deno.writeTextFile(`${dir}/main.ts`, "await new Promise((r) => setTimeout(r, 4000));");
    const run = async (env: Record<string, string>) => {
      seen.length = 0;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...AGENT_RUNTIME_FLAGS, `${dir}/main.ts`],
        env: { DENO_DIR: `${dir}/cache`, HTTPS_PROXY: `http://127.0.0.1:${(proxy.addr as Deno.NetAddr).port}`, ...env },
        stdout: "null",
        stderr: "null",
      }).spawn();
      onSeen = () => child.kill();
      await child.status;
      return [...seen];
    };
    assert.deepEqual(await run({ ...AGENT_RUNTIME_ENV }), []);
    const plain = await run({});
    assert.ok(
      plain.some((line) => line.startsWith("CONNECT dl.deno.land:443")),
      `without it: ${JSON.stringify(plain)}`,
    );
  } finally {
    proxy.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
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

Deno.test("with the V8 flags a hot function is not compiled by TurboFan; without them it is", async () => {
  const code = `function f(x) { let s = 0; for (let i = 0; i < 1000; i++) s += (x * i) % 7; return s; }
    let t = 0; for (let i = 0; i < 20000; i++) t += f(i); console.log(t);`;
  const trace = async (v8: string) => {
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", `--v8-flags=${v8}`, code] }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  };
  const plain = await trace("--trace-opt");
  assert.match(plain, /target TURBOFAN/, "V8 compiles the hot function with TurboFan by default");
  const agent = await trace(`${AGENT_V8_FLAGS},--trace-opt`);
  assert.doesNotMatch(agent, /TURBOFAN/);
  assert.match(agent, /^\d+\n?$/m, "the function still ran");
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
