/** The agent's permission set: it lives once, in deno.json "permissions.default", and is turned into Deno flags here. */
import { z } from "zod";
import meta from "../../deno.json" with { type: "json" };
import { PermissionsError } from "./errors.ts";

/** What the agent may touch, per Deno permission kind. Empty list: nothing of that kind. */
export interface PermissionSet {
  /** Paths readable (files or directories). */
  read: string[];
  /** Paths writable. */
  write: string[];
  /** `host:port` and `unix:<path>` entries. */
  net: string[];
  /** Environment variables readable. */
  env: string[];
  /** Environment variables whose reads return `undefined` instead of failing (libraries probe them at import). */
  ignoreEnv: string[];
  /** Executables (names on PATH or absolute paths). */
  run: string[];
  /** `Deno.*` system-information calls (hostname, osRelease, …). */
  sys: string[];
}

/** The environment variables ethers' WebSocket dependency probes at import; reads answer `undefined`. */
export const IGNORED_ENV: readonly string[] = ["WS_NO_BUFFER_UTIL", "WS_NO_UTF_8_VALIDATE"];

/** The directory the install layout keeps the agent's `.env`, keystore and password file in (see docs/install.md). */
export const INSTALL_CONFIG_DIR = "/etc/lamda-node-agent";

// Only explicit lists are accepted: `true` (everything of a kind) has no place in a least-privilege set.
const list = z.array(z.string().min(1));
const kind = z.union([list, z.object({ allow: list.optional(), deny: list.optional(), ignore: list.optional() })]);
const setSchema = z.object({
  read: kind.optional(),
  write: kind.optional(),
  net: kind.optional(),
  env: kind.optional(),
  run: kind.optional(),
  sys: kind.optional(),
}).strict();

/** Parses one named permission set of a deno.json `permissions` object. Throws {@linkcode PermissionsError}. */
export function parsePermissionSet(permissions: unknown, name = "default"): PermissionSet {
  const raw = (permissions as Record<string, unknown> | undefined)?.[name];
  const parsed = setSchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join(".") || "(set)"}: ${i.message}`).join("; ");
    throw new PermissionsError(`Cannot use permission set "${name}" from deno.json: ${why}`);
  }
  const s = parsed.data;
  const allow = (k: z.infer<typeof kind> | undefined) => (Array.isArray(k) ? k : k?.allow ?? []);
  const env = s.env;
  for (const [k, v] of Object.entries(s)) {
    if (!Array.isArray(v) && v?.deny?.length) {
      throw new PermissionsError(
        `Cannot use permission set "${name}": "${k}.deny" is not supported, list what is allowed`,
      );
    }
  }
  return {
    read: allow(s.read),
    write: allow(s.write),
    net: allow(s.net),
    env: allow(env),
    ignoreEnv: Array.isArray(env) ? [] : env?.ignore ?? [],
    run: allow(s.run),
    sys: allow(s.sys),
  };
}

/** The agent's permission set, as declared in deno.json. */
export const AGENT_PERMISSION_SET: PermissionSet = parsePermissionSet(
  (meta as { permissions?: unknown }).permissions,
  "default",
);

/**
 * Turns a set into `deno run`/`deno compile` flags, `--no-prompt` included. Relative paths stay relative, so they
 * resolve against the working directory at run time (a deno.json set passed with `-P` to `deno compile` would bake
 * the build machine's absolute paths into the binary instead).
 */
export function permissionSetToFlags(set: PermissionSet): string[] {
  const flags: string[] = [];
  const add = (flag: string, values: string[]) => {
    if (values.length === 0) return;
    for (const v of values) {
      // Deno splits flag values on commas; a value holding one cannot be granted precisely.
      if (v.includes(",")) {
        throw new PermissionsError(`Cannot grant ${JSON.stringify(v)} with ${flag}: it holds a comma`);
      }
    }
    flags.push(`${flag}=${unique(values).join(",")}`);
  };
  add("--allow-read", set.read);
  add("--allow-write", set.write);
  add("--allow-net", set.net);
  add("--allow-env", set.env);
  add("--ignore-env", set.ignoreEnv);
  add("--allow-run", set.run);
  add("--allow-sys", set.sys);
  flags.push("--no-prompt");
  return flags;
}

/** Quotes flags for a POSIX shell where needed, joined into one line. */
export function shellLine(args: string[]): string {
  return args.map((a) => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/** The values in first-seen order, each once. */
export function unique(values: string[]): string[] {
  return [...new Set(values)];
}
