import assert from "node:assert/strict";
import { parseImageReference, qualifiedName } from "./reference.ts";
import { InvalidJobSpecError } from "./rules.ts";

const D = "sha256:" + "0123456789abcdef".repeat(4);

Deno.test("image references in the grammar parse into registry, repository, tag and digest", () => {
  assert.deepEqual(parseImageReference("busybox"), {
    registry: undefined,
    repository: "busybox",
    tag: undefined,
    digest: undefined,
    canonical: "busybox:latest",
  });
  assert.deepEqual(parseImageReference("lamda-test/busybox:latest").canonical, "lamda-test/busybox:latest");
  const full = parseImageReference(`ghcr.io/lamda-network/sd_xl.v2:1.0-cuda12@${D}`);
  assert.equal(full.registry, "ghcr.io");
  assert.equal(full.repository, "lamda-network/sd_xl.v2");
  assert.equal(full.tag, "1.0-cuda12");
  assert.equal(full.digest, D);
  assert.equal(parseImageReference(`localhost:5000/model@${D}`).canonical, `localhost:5000/model@${D}`);
  assert.equal(parseImageReference("localhost/model").registry, "localhost");
  assert.equal(qualifiedName(parseImageReference("busybox")), "docker.io/library/busybox");
  assert.equal(qualifiedName(parseImageReference("pytorch/pytorch:2.3")), "docker.io/pytorch/pytorch");
  assert.equal(qualifiedName(parseImageReference("ghcr.io/a/b")), "ghcr.io/a/b");
});

Deno.test("image references outside the grammar are rejected with a reason", () => {
  const cases: [string, RegExp][] = [
    ["", /must not be empty/],
    ["busybox; rm -rf /", /characters outside the reference grammar/],
    ["busybox&&id", /characters outside the reference grammar/],
    ["`id`", /characters outside the reference grammar/],
    ["a b", /characters outside the reference grammar/],
    ["Busybox", /uppercase repository/],
    ["lamda/MyModel:1", /uppercase repository/],
    ["busybox:-bad", /invalid tag/],
    ["busybox:" + "a".repeat(129), /invalid tag/],
    ["busybox@sha256:1234", /invalid digest/],
    ["busybox@md5:" + "a".repeat(32), /invalid digest/],
    ["a//b", /empty path component/],
    ["a/-b", /invalid path component/],
    ["bad_host-.io:5000/x", /invalid registry host/],
    [":latest", /no repository name/],
  ];
  for (const [ref, why] of cases) {
    assert.throws(
      () => parseImageReference(ref),
      (e: Error) => e instanceof InvalidJobSpecError && why.test(e.message),
      ref,
    );
  }
});
