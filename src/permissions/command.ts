/** `permissions`: prints the exact Deno permissions the loaded configuration needs, as flags or JSON. */
import type { Command } from "../command.ts";
import { permissionFlags } from "./derive.ts";
import { shellLine } from "./permission_set.ts";

/** `lamda-node-agent permissions [--flags | --json]`. */
export const permissionsCommand: Command = {
  name: "permissions",
  summary: "print the exact Deno permissions this configuration needs (for deno run or a custom build)",
  description:
    "Derives read/write/net/run/env from the effective configuration: DATA_DIR, the .env file, keystore and " +
    "credential files, the Docker socket, every NATS server, RPC URL and IPFS gateway, the Pinata API and HTTP_ADDR. " +
    "Relative paths are printed absolute, resolved against the current directory.\n" +
    "Run the bundle with them:  deno run $(lamda-node-agent permissions --flags) lamda-node-agent.js run",
  options: {
    flags: { type: "boolean", description: "print one line of deno flags" },
    json: { type: "boolean", description: "print JSON" },
  },
  run(ctx) {
    const derived = permissionFlags(ctx.loaded.config, {
      envFile: ctx.loaded.envFile?.path ?? ".env",
      cwd: Deno.cwd(),
    });
    if (ctx.options.json) {
      ctx.print(JSON.stringify(derived, null, 2));
    } else if (ctx.options.flags) {
      ctx.print(shellLine(derived.flags));
    } else {
      const rows: [string, string[]][] = [
        ["read", derived.read],
        ["write", derived.write],
        ["net", derived.net],
        ["run", derived.run],
        ["sys", derived.sys],
        ["env", [`${derived.env.length} variables of the configuration schema`]],
        ["ignore-env", derived.ignoreEnv],
      ];
      for (const [kind, values] of rows) ctx.print(`${kind.padEnd(10)}  ${values.length ? values.join(", ") : "-"}`);
      ctx.print("");
      ctx.print(shellLine(derived.flags));
    }
    return Promise.resolve(0);
  },
};
