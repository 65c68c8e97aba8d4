/**
 * Permission failures of the Deno sandbox (`NotCapable`): found anywhere in an error's chain, mapped back to the setting
 * whose value needs a wider permission set, and explained with the command that prints the flags it needs.
 */
import { resolvePath } from "./audit.ts";
import { type PermissionSource, permissionSources } from "./derive.ts";
import { shellLine } from "./permission_set.ts";
import type { Config } from "../config/mod.ts";

/** An access the sandbox refused. */
export interface DeniedAccess {
  /** The permission kind: `read`, `write`, `net`, `run`, `env`, `sys`, … */
  kind: string;
  /** What was asked for (`/run/other.sock`, `nats.example:4222`, `/opt/nvidia-smi`); absent for a whole-kind check. */
  target?: string;
}

/** A refused access explained for people: what was refused and for which setting, and how to get the flags. */
export interface DenialReport extends DeniedAccess {
  /** The settings whose values need the access, in schema order; empty when none names it. */
  variables: string[];
  /** One line: `DOCKER_HOST needs read access to "/run/other.sock", which the agent's permission set does not grant`. */
  problem: string;
  /** One line: the command that prints the flags this configuration needs, and where to read on. */
  fix: string;
}

/** Options of {@linkcode explainDenial}. */
export interface ExplainOptions {
  /** The `--env-file` the operator gave, if any (repeated in the command shown). */
  envFile?: string;
  /** Directory relative paths are resolved against (the agent's working directory). */
  cwd: string;
  /** How the agent runs; the command shown differs. Default: {@linkcode howRunning}. */
  runtime?: Runtime;
}

/** How the agent runs: a compiled binary (its set built in), the bundle under `deno run`, or the source tree. */
export type Runtime = "binary" | "bundle" | "source";

/** How this process runs. */
export function howRunning(): Runtime {
  if (Deno.build.standalone) return "binary";
  return /\/src\/main\.ts$/.test(Deno.mainModule) ? "source" : "bundle";
}

// Deno's wording: `Requires read access to "/x", run again with the --allow-read flag` (no `to "…"` for a whole kind).
const DENIED = /Requires (\w+) access(?: to "([^"]*)")?, run again with the --allow-\w+ flag/;

/**
 * The access refused by the sandbox somewhere in `error`'s chain (its `cause`s and an AggregateError's `errors`), or
 * undefined when the error has nothing to do with permissions. Wrappers that quote Deno's message without keeping the
 * cause are recognised by that message.
 */
export function deniedAccess(error: unknown): DeniedAccess | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.size < 32) {
    const e = queue.shift();
    if (!(e instanceof Error) || seen.has(e)) continue;
    seen.add(e);
    const match = DENIED.exec(e.message);
    if (e instanceof Deno.errors.NotCapable || match) {
      return match ? { kind: match[1], ...(match[2] !== undefined ? { target: match[2] } : {}) } : { kind: "unknown" };
    }
    queue.push(e.cause);
    if (e instanceof AggregateError) queue.push(...e.errors);
  }
  return undefined;
}

/**
 * Explains a sandbox refusal in `error` against the loaded configuration: the variables whose values need the access
 * (the same derivation `permissions` prints) and the command that prints the flags. Undefined for any other error.
 * Prints names, paths and `host:port`s only, never a value of a secret variable.
 */
export function explainDenial(error: unknown, config: Config, options: ExplainOptions): DenialReport | undefined {
  const denied = deniedAccess(error);
  if (!denied) return undefined;
  let sources: PermissionSource[] = [];
  try {
    sources = permissionSources(config, { envFile: options.envFile ?? ".env", cwd: options.cwd });
  } catch {
    // A value that yields no permission at all (not a URL) is a configuration error reported elsewhere.
  }
  const variables = [
    ...new Set(sources.filter((s) => covers(s, denied, options.cwd)).map((s) => s.variable)),
  ];
  const access = `${denied.kind} access${denied.target !== undefined ? ` to ${JSON.stringify(denied.target)}` : ""}`;
  const problem = variables.length > 0
    ? `${variables.join(" / ")} needs ${access}, which the agent's permission set does not grant`
    : `the agent needs ${access}, which its permission set does not grant (no setting names it: ` +
      "please report it)";
  // The command shown may run elsewhere (`deno task` runs in the project directory): the file is named absolutely.
  const envFile = options.envFile === undefined ? undefined : resolvePath(options.envFile, options.cwd);
  return { ...denied, variables, problem, fix: permissionsHint({ envFile, runtime: options.runtime }) };
}

/** The command that prints the flags a configuration needs, and what to do with them, for the way the agent runs. */
export function permissionsHint(options: Pick<ExplainOptions, "envFile" | "runtime">): string {
  const envFlag = options.envFile !== undefined ? ` --env-file ${shellLine([options.envFile])}` : "";
  switch (options.runtime ?? howRunning()) {
    case "source":
      return `\`deno task permissions --flags${envFlag}\` prints the flags this configuration needs; run with them: ` +
        `\`deno run $(deno task -q permissions --flags${envFlag}) src/main.ts …\` (docs/permissions.md)`;
    case "bundle":
      return "run the bundle with `permissions --flags` in place of the command to print the flags this " +
        "configuration needs, then run it with them (docs/permissions.md)";
    case "binary":
      return `\`lamda-node-agent${envFlag} permissions --flags\` prints the flags this configuration needs; this ` +
        "binary's set is built in: run the bundle with them, or build a binary for this host with " +
        `\`deno task compile${envFlag || " --env-file <file>"}\` (docs/permissions.md)`;
  }
}

/** Whether `source`'s entry is what was refused (a path at or below it, the same `host:port` or executable). */
function covers(source: PermissionSource, denied: DeniedAccess, cwd: string): boolean {
  const target = denied.target;
  if (target === undefined || source.kind !== denied.kind) return false;
  switch (source.kind) {
    case "read":
    case "write": {
      const t = resolvePath(target, cwd);
      const e = resolvePath(source.entry, cwd);
      return t === e || t.startsWith(e.endsWith("/") ? e : `${e}/`);
    }
    case "net":
      return source.entry === target || source.entry === `unix:${target}`;
    case "run":
      return source.entry === target || (!source.entry.includes("/") && target.split("/").pop() === source.entry);
    case "sys":
      return source.entry === target;
  }
}
