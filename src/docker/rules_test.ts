import assert from "node:assert/strict";
import { InvalidJobSpecError, MAX_ENV_BYTES, MAX_ENV_VARS, validateJobEnv, validateOutputPath } from "./rules.ts";

Deno.test("output_path is normalized when it is a safe absolute path", () => {
  assert.equal(validateOutputPath("/output"), "/output");
  assert.equal(validateOutputPath("//work/./out/"), "/work/out");
  assert.equal(validateOutputPath("/usr/src/app/out"), "/usr/src/app/out");
  assert.equal(validateOutputPath("/inputs"), "/inputs");
});

Deno.test("output_path that is relative, climbs, or targets the root, kernel trees or /input is rejected", () => {
  const cases: [string, RegExp][] = [
    ["", /non-empty absolute path/],
    ["output", /must be absolute/],
    ["./out", /must be absolute/],
    ["/out/../etc", /must not contain "\.\."/],
    ["/", /root/],
    ["/./", /root/],
    ["/proc", /under \/proc/],
    ["/proc/self", /under \/proc/],
    ["/sys/fs", /under \/sys/],
    ["/dev/shm", /under \/dev/],
    ["/etc", /under \/etc/],
    ["/input", /\/input or inside it/],
    ["/input/out", /\/input or inside it/],
    ["/usr", /system directory/],
    ["/tmp", /system directory/],
    ["/out\nput", /control characters/],
    ["/" + "a".repeat(2000), /longer than/],
  ];
  for (const [path, why] of cases) {
    assert.throws(
      () => validateOutputPath(path),
      (e: Error) => e instanceof InvalidJobSpecError && e.field === "output_path" && why.test(e.message),
      JSON.stringify(path),
    );
  }
});

Deno.test("job env with ordinary variables passes and is copied", () => {
  const env = { MODEL: "sdxl", BATCH_SIZE: "4", _x: "" };
  const out = validateJobEnv(env);
  assert.deepEqual(out, env);
  assert.notEqual(out, env);
});

Deno.test("job env with runtime-control variables, bad names, NUL bytes or too much is rejected", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ NVIDIA_VISIBLE_DEVICES: "all" }, /NVIDIA_VISIBLE_DEVICES controls/],
    [{ NVIDIA_DRIVER_CAPABILITIES: "all" }, /NVIDIA_DRIVER_CAPABILITIES controls/],
    [{ nvidia_visible_devices: "all" }, /controls/],
    [{ CUDA_VISIBLE_DEVICES: "0" }, /CUDA_VISIBLE_DEVICES controls/],
    [{ LD_PRELOAD: "/x.so" }, /LD_PRELOAD controls/],
    [{ DOCKER_HOST: "tcp://x" }, /DOCKER_HOST controls/],
    [{ "1BAD": "x" }, /not a valid name/],
    [{ "A-B": "x" }, /not a valid name/],
    [{ A: "x\0y" }, /NUL byte/],
    [Object.fromEntries(Array.from({ length: MAX_ENV_VARS + 1 }, (_, i) => [`V${i}`, "x"])), /at most 128/],
    [{ BIG: "x".repeat(MAX_ENV_BYTES) }, /larger than/],
  ];
  for (const [env, why] of cases) {
    assert.throws(
      () => validateJobEnv(env),
      (e: Error) => e instanceof InvalidJobSpecError && e.field === "env" && why.test(e.message),
      Object.keys(env)[0],
    );
  }
});
