import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const workflow = () => Deno.readTextFile(`${ROOT}.github/workflows/release.yml`);

Deno.test("the release workflow uses the Deno version CI uses", async () => {
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  const ciVersion = /^DENO_VERSION=(\S+)$/m.exec(ci)?.[1];
  const wfVersion = /^\s+DENO_VERSION: (\S+)$/m.exec(await workflow())?.[1];
  assert.ok(ciVersion, ".ci/run names its Deno version");
  assert.equal(wfVersion, ciVersion);
});

Deno.test("the release workflow gates, checks the tag against deno.json, compiles, smoke-tests and checksums", async () => {
  const text = await workflow();
  assert.match(text, /on:\n\s+push:\n\s+tags: \["v\*"\]/);
  assert.match(text, /GITHUB_REF_NAME}" != "v\$\{version}"/);
  assert.match(text, /run: bash \.ci\/run/);
  assert.match(text, /run: deno task compile/);
  for (const smoke of [/"\$bin" version/, /"\$bin" --help/, /"\$bin" doctor --offline/]) assert.match(text, smoke);
  assert.match(text, /sha256sum .* > SHA256SUMS/);
  assert.match(text, /gh release create .*\n.*dist\/SHA256SUMS/);
  // Jobs run in order: nothing is published unless the gate and the smoke test passed.
  assert.match(text, /build:\n(.*\n)*?\s+needs: gate/);
  assert.match(text, /publish:\n(.*\n)*?\s+needs: build/);
});
