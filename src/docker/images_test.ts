import assert from "node:assert/strict";
import { allowlistMatches, checkImagePolicy, registryAuthHeader } from "./images.ts";
import { ImagePolicyError } from "./errors.ts";
import { parseImageReference } from "./reference.ts";

const ref = parseImageReference;
const D = "sha256:" + "ab".repeat(32);

Deno.test("allowlist entries match exact names, prefixes ending in / and globs, after qualifying names", () => {
  assert.ok(allowlistMatches(ref("busybox:1"), "busybox"));
  assert.ok(allowlistMatches(ref("busybox:1"), "docker.io/library/busybox"));
  assert.ok(allowlistMatches(ref("lamda/model:2"), "lamda/"));
  assert.ok(allowlistMatches(ref("ghcr.io/lamda/sd:1"), "ghcr.io/lamda/"));
  assert.ok(!allowlistMatches(ref("ghcr.io/lamdaevil/sd:1"), "ghcr.io/lamda"));
  assert.ok(!allowlistMatches(ref("ghcr.io/lamdaevil/sd:1"), "ghcr.io/lamda/"));
  assert.ok(allowlistMatches(ref("pytorch/pytorch:2"), "docker.io/pytorch/*"));
  assert.ok(allowlistMatches(ref("ghcr.io/org/a/b:1"), "ghcr.io/org/*"));
  assert.ok(!allowlistMatches(ref("ghcr.io/other/a:1"), "ghcr.io/org/*"));
  assert.ok(!allowlistMatches(ref("evil/busybox"), "busybox"));
});

Deno.test("policy refuses images outside the allowlist and tags where a digest is required", () => {
  const policy = { allowlist: ["ghcr.io/lamda/"], requireDigest: true };
  assert.throws(() => checkImagePolicy(ref("ghcr.io/lamda/sd:1"), policy), ImagePolicyError);
  assert.throws(() => checkImagePolicy(ref(`ghcr.io/other/sd@${D}`), policy), /not in this node's IMAGE_ALLOWLIST/);
  checkImagePolicy(ref(`ghcr.io/lamda/sd@${D}`), policy);
  checkImagePolicy(ref("anything:1"), {});
});

Deno.test("registry credentials go only to their own registry", () => {
  const auth = { server: "ghcr.io", username: "u", password: "p" };
  assert.ok(registryAuthHeader(ref("ghcr.io/lamda/sd:1"), auth));
  assert.equal(registryAuthHeader(ref("docker.io/library/busybox"), auth), undefined);
  assert.equal(registryAuthHeader(ref("ghcr.io.evil.com/x"), auth), undefined);
  const hub = registryAuthHeader(ref("busybox"), { ...auth, server: "docker.io" })!;
  assert.deepEqual(JSON.parse(atob(hub.replaceAll("-", "+").replaceAll("_", "/"))), {
    username: "u",
    password: "p",
    serveraddress: "docker.io",
  });
});
