import assert from "node:assert/strict";
import { readmeTable, renderConfigTable, renderEnvExample, tableRows } from "./docs.ts";
import { varList } from "./schema.ts";

const root = new URL("../../", import.meta.url);

Deno.test("README's configuration table matches the schema (run `deno task docs` after changing it)", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  assert.deepEqual(tableRows(readmeTable(readme)), tableRows(renderConfigTable()));
});

Deno.test(".env.example documents every variable (run `deno task docs` after changing the schema)", async () => {
  const text = await Deno.readTextFile(new URL(".env.example", root));
  assert.equal(text, renderEnvExample());
  for (const [, s] of varList()) assert.match(text, new RegExp(`^# ${s.env}=`, "m"));
});
