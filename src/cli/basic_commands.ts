/** The commands every build has: `version` and `config`. */
import { describeSource, showRaw, varList } from "../config/mod.ts";
import { VERSION } from "../version.ts";
import type { Command } from "../command.ts";
import { PROGRAM } from "./help.ts";

/** `version`: prints the agent version and runtime. */
export const versionCommand: Command = {
  name: "version",
  summary: "print the version (also: --version, -v)",
  options: { json: { type: "boolean", description: "print JSON" } },
  // The version is what an operator asks first, often with a .env still being written.
  usesConfig: false,
  run(ctx) {
    const info = { name: PROGRAM, version: VERSION, deno: Deno.version.deno, os: Deno.build.os, arch: Deno.build.arch };
    ctx.print(
      ctx.options.json ? JSON.stringify(info) : `${PROGRAM} ${VERSION} (deno ${info.deno}, ${info.os}/${info.arch})`,
    );
    return Promise.resolve(0);
  },
};

/** `config`: prints the effective configuration, secrets redacted, with where each value came from. */
export const configCommand: Command = {
  name: "config",
  summary: "print the effective configuration (secrets redacted) and where each value came from",
  options: { json: { type: "boolean", description: "print JSON" } },
  run(ctx) {
    const { raw, sources } = ctx.loaded;
    const rows = varList().map(([key, spec]) => {
      const value = raw[key];
      return {
        variable: spec.env,
        value: value === undefined ? "" : showRaw(spec, value),
        source: value === undefined ? "unset" : describeSource(sources[key]),
      };
    });
    if (ctx.options.json) {
      ctx.print(JSON.stringify(rows, null, 2));
      return Promise.resolve(0);
    }
    const w1 = Math.max(...rows.map((r) => r.variable.length));
    const w2 = Math.min(60, Math.max(...rows.map((r) => r.value.length)));
    ctx.print(`${"VARIABLE".padEnd(w1)}  ${"VALUE".padEnd(w2)}  SOURCE`);
    for (const r of rows) ctx.print(`${r.variable.padEnd(w1)}  ${r.value.padEnd(w2)}  ${r.source}`);
    return Promise.resolve(0);
  },
};
