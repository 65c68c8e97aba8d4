import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { syncPermissionEnv } from "../../scripts/sync_permission_env.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("regenerating the env list rewrites that one array and leaves the rest of deno.json byte for byte", async () => {
  const text = await Deno.readTextFile(`${ROOT}deno.json`);
  const updated = syncPermissionEnv(text, ["A_VAR", "B_VAR"]);
  const json = JSON.parse(updated);
  assert.deepEqual(json.permissions.default.env.allow, ["A_VAR", "B_VAR"]);
  const before = JSON.parse(text);
  before.permissions.default.env.allow = ["A_VAR", "B_VAR"];
  assert.deepEqual(json, before);
  const start = text.indexOf('"allow": [', text.indexOf('"env": {', text.indexOf('\n  "permissions": {')));
  assert.equal(updated.slice(0, start), text.slice(0, start), "nothing before the array changes");
  assert.equal(updated.slice(updated.indexOf("]", start)), text.slice(text.indexOf("]", start)), "nor after it");
});

Deno.test("a deno.json without the permission set is an error, not a silent no-op", () => {
  assert.throws(() => syncPermissionEnv('{\n  "tasks": {}\n}\n', ["A"]), /permissions\.default\.env\.allow/);
});
