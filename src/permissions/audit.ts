/** Reads a `DENO_AUDIT_PERMISSIONS` file and finds every access that lies outside a permission set. */
import { z } from "zod";
import { PermissionsError } from "./errors.ts";
import type { PermissionSet } from "./permission_set.ts";

/** One line of Deno's permission audit log: a permission check, granted or not. */
export interface AuditEntry {
  permission: string;
  value: string | null;
}

const entrySchema = z.object({ permission: z.string(), value: z.string().nullable().optional() });

/** Parses the JSON lines Deno writes to `DENO_AUDIT_PERMISSIONS`. Throws {@linkcode PermissionsError} on a bad line. */
export function parseAuditLog(text: string): AuditEntry[] {
  const entries: AuditEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(lines[i]);
    } catch (error) {
      throw new PermissionsError(`Cannot parse audit line ${i + 1}: not JSON`, { cause: error });
    }
    const parsed = entrySchema.safeParse(json);
    if (!parsed.success) throw new PermissionsError(`Cannot parse audit line ${i + 1}: expected {permission, value}`);
    entries.push({ permission: parsed.data.permission, value: parsed.data.value ?? null });
  }
  return entries;
}

/** Options of {@linkcode auditViolations}. */
export interface AuditOptions {
  /** Directory relative paths (in the set and in the log) are resolved against. */
  cwd: string;
}

/** The audit entries a set does not cover, each once. An empty result means the run stayed inside the set. */
export function auditViolations(entries: AuditEntry[], set: PermissionSet, options: AuditOptions): AuditEntry[] {
  const seen = new Set<string>();
  const out: AuditEntry[] = [];
  for (const e of entries) {
    if (covered(e, set, options.cwd)) continue;
    const key = `${e.permission}\0${e.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

function covered(e: AuditEntry, set: PermissionSet, cwd: string): boolean {
  // A value-less check asks for the whole kind (e.g. `Deno.env.toObject()`): never inside a least-privilege set.
  if (e.value === null) return false;
  switch (e.permission) {
    case "read":
      return pathCovered(e.value, set.read, cwd);
    case "write":
      return pathCovered(e.value, set.write, cwd);
    case "net":
      return netCovered(e.value, set.net);
    case "env":
      return set.env.includes(e.value) || set.ignoreEnv.includes(e.value);
    case "run":
      return set.run.some((r) => r === e.value || (!r.includes("/") && e.value!.split("/").pop() === r));
    case "sys":
      return set.sys.includes(e.value);
    default:
      return false;
  }
}

function pathCovered(path: string, allowed: string[], cwd: string): boolean {
  const p = resolvePath(path, cwd);
  return allowed.some((a) => {
    const r = resolvePath(a, cwd);
    return p === r || p.startsWith(r.endsWith("/") ? r : `${r}/`);
  });
}

function netCovered(value: string, allowed: string[]): boolean {
  const target = normalizeNet(value);
  return allowed.some((a) =>
    a === target || (!a.startsWith("unix:") && !a.includes(":") && target.split(":")[0] === a)
  );
}

/** `unix:<path>` stays; a URL becomes `host:port`; `host:port` stays. */
function normalizeNet(value: string): string {
  if (value.startsWith("unix:")) return value;
  if (value.includes("://")) {
    try {
      const u = new URL(value);
      const port = u.port || ({ https: "443", http: "80", wss: "443", ws: "80" } as Record<string, string>)[
        u.protocol.replace(/:$/, "")
      ];
      return port ? `${u.hostname}:${port}` : u.hostname;
    } catch {
      return value;
    }
  }
  return value;
}

/** Resolves `path` against `cwd` lexically (`.` and `..` removed). */
export function resolvePath(path: string, cwd: string): string {
  const parts = (path.startsWith("/") ? path : `${cwd}/${path}`).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return `/${out.join("/")}`;
}
