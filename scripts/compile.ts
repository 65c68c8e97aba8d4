/**
 * `deno task compile`: builds `dist/lamda-node-agent-<target>` for each release target with exactly the agent's
 * permission set (deno.json "permissions.default") and `--no-prompt`.
 *
 *   deno task compile                                   all targets, the default set
 *   deno task compile --target x86_64-unknown-linux-gnu one target
 *   deno task compile --env-file /etc/lamda-node-agent/agent.env   a build whose set is derived from that .env
 *
 * Exit codes: 0 built, 1 failed, 2 usage, 3 `deno compile` could not download its `denort` runtime (no access to
 * Deno's download server): the reason is printed on stderr.
 */
import { parseArgs } from "node:util";
import { readConfig } from "../src/cli/main.ts";
import { AGENT_PERMISSION_SET, permissionFlags, permissionSetToFlags, shellLine } from "../src/permissions/mod.ts";
import { AGENT_RUNTIME_FLAGS } from "../src/runtime_flags.ts";

/** The release targets: Linux for nodes, macOS for the client commands (status, verify-receipt, permissions). */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;

/** Exit code when the runtime download failed. */
export const EXIT_RUNTIME_UNAVAILABLE = 3;

/** Whether `deno compile` output says the denort runtime could not be downloaded. */
export function runtimeDownloadFailed(output: string): boolean {
  return /(dl\.deno\.land|denort)/.test(output) &&
    /(error sending request|dns error|Connect|timed out|failed to lookup|Setting up base binary)/i.test(output);
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        target: { type: "string", multiple: true },
        out: { type: "string", default: "dist" },
        "env-file": { type: "string" },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }
  const targets = values.target ?? [...TARGETS];
  for (const t of targets) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      console.error(`error: unknown target ${JSON.stringify(t)}; one of ${TARGETS.join(", ")}`);
      return 2;
    }
  }
  let flags = permissionSetToFlags(AGENT_PERMISSION_SET);
  if (values["env-file"]) {
    // A custom build for one host: the set is derived from its .env, like `lamda-node-agent permissions`.
    const loaded = await readConfig(values["env-file"], {}, {
      env: (name) => Deno.env.get(name),
      readTextFile: (p) => Deno.readTextFile(p),
    });
    flags = permissionFlags(loaded.config, { envFile: values["env-file"], cwd: Deno.cwd() }).flags;
  }
  await Deno.mkdir(values.out!, { recursive: true });
  for (const target of targets) {
    const output = `${values.out}/lamda-node-agent-${target}`;
    // --quiet is baked into the binary as its log level: without it the binary prints Deno's own notices at every
    // start (`Info Failed to resolve 'nvidia-smi' for allow-run` on a host without nvidia-smi on PATH).
    const cmd = [
      "compile",
      "--quiet",
      ...AGENT_RUNTIME_FLAGS,
      ...flags,
      "--target",
      target,
      "--output",
      output,
      "src/main.ts",
    ];
    console.error(`deno ${shellLine(cmd)}`);
    const result = await new Deno.Command(Deno.execPath(), { args: cmd, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
    if (!result.success) {
      if (runtimeDownloadFailed(text)) {
        const reason = /error sending request[^\n]*/.exec(text)?.[0] ?? "download failed";
        console.error(`deno compile cannot download its denort runtime for ${target}: ${reason}`);
        return EXIT_RUNTIME_UNAVAILABLE;
      }
      console.error(text);
      return 1;
    }
    console.error(`built ${output}`);
  }
  return 0;
}

if (import.meta.main) Deno.exitCode = await main(Deno.args);
