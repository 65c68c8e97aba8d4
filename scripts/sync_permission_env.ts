/**
 * Rewrites deno.json "permissions.default.env.allow" to the config schema's variable names, touching nothing else
 * in the file (other tools and people edit it too).
 *
 *   deno run --allow-read=deno.json,src --allow-write=deno.json scripts/sync_permission_env.ts
 */
import { varList } from "../src/config/mod.ts";

/** Replaces the env allow array of the `default` permission set in deno.json text; throws when it cannot find it. */
export function syncPermissionEnv(text: string, names: string[]): string {
  const perms = text.indexOf('\n  "permissions": {');
  const env = perms < 0 ? -1 : text.indexOf('"env": {', perms);
  const allow = env < 0 ? -1 : text.indexOf('"allow": [', env);
  const close = allow < 0 ? -1 : text.indexOf("]", allow);
  if (close < 0) throw new Error('Cannot find "permissions.default.env.allow" in deno.json');
  const indent = " ".repeat(10);
  const body = names.map((n) => `${indent}${JSON.stringify(n)}`).join(",\n");
  const updated = `${text.slice(0, allow)}"allow": [\n${body}\n${" ".repeat(8)}${text.slice(close)}`;
  JSON.parse(updated);
  return updated;
}

if (import.meta.main) {
  const text = await Deno.readTextFile("deno.json");
  const updated = syncPermissionEnv(text, varList().map(([, spec]) => spec.env));
  if (updated !== text) await Deno.writeTextFile("deno.json", updated);
  console.log(updated === text ? "deno.json env permissions already match the schema" : "deno.json updated");
}
