import assert from "node:assert/strict";
import { DockerError, DockerUnreachableError } from "./client.ts";
import { ContainerExistsError, CudaUnsupportedError, ImagePolicyError, ImagePullError } from "./errors.ts";
import { classifyError, classifyOutcome } from "./outcome.ts";
import { InvalidJobSpecError } from "./rules.ts";
import { HOOK_REFUSAL } from "./testdata/nvidia_require_cuda.ts";

const OUT = { stdoutTail: "out", stderrTail: "Traceback: boom", stdoutBytes: 3, stderrBytes: 15 };

Deno.test("exit 0 is success; any other code is nonzero_exit with the code and the output tail", () => {
  assert.deepEqual(classifyOutcome({ exitCode: 0, output: OUT }), { ok: true, exitCode: 0, output: OUT });
  const failed = classifyOutcome({ exitCode: 3, output: OUT });
  assert.ok(!failed.ok && failed.reason === "nonzero_exit" && failed.exitCode === 3);
  assert.match(failed.message, /exited with code 3; output tail:\nTraceback: boom/);
});

Deno.test("OOMKilled is oom, even with exit code 137", () => {
  const o = classifyOutcome({ exitCode: 137, oomKilled: true });
  assert.ok(!o.ok && o.reason === "oom" && o.exitCode === 137);
});

Deno.test("a timeout or an abort wins over the exit code it caused", () => {
  const t = classifyOutcome({ exitCode: 137, timedOut: true, timeoutMs: 2000 });
  assert.ok(!t.ok && t.reason === "timeout");
  assert.match(t.message, /time limit of 2 s/);
  const c = classifyOutcome({ exitCode: 143, aborted: "cancelled", oomKilled: true });
  assert.ok(!c.ok && c.reason === "cancelled");
  const s = classifyOutcome({ exitCode: 143, aborted: "agent_shutdown" });
  assert.ok(!s.ok && s.reason === "agent_shutdown");
});

Deno.test("daemon and preparation errors map to one reason code each", () => {
  const reason = (e: unknown) => {
    const r = classifyError(e);
    return r.reason;
  };
  assert.equal(reason(new InvalidJobSpecError("env", "env bad")), "invalid_job");
  assert.equal(reason(new ImagePolicyError("x", "refused")), "rejected");
  assert.equal(reason(new ImagePullError("x", "cannot pull")), "image_pull_failed");
  assert.equal(
    reason(
      new DockerError(500, "/containers/x/start", 'could not select device driver "nvidia" with capabilities: [[gpu]]'),
    ),
    "gpu_unavailable",
  );
  assert.equal(
    reason(new DockerError(404, "/containers/create", "No such image: nvidia/cuda:12")),
    "image_pull_failed",
  );
  const notFound = classifyError(
    new DockerError(
      400,
      "/containers/x/start",
      'OCI runtime create failed: exec: "nope": executable file not found in $PATH',
    ),
  );
  assert.ok(notFound.reason === "nonzero_exit" && notFound.exitCode === 127);
  assert.equal(reason(new ContainerExistsError("lamda-job-x-a1")), "internal_error");
  assert.equal(reason(new DockerUnreachableError("unix:///x.sock", { cause: new Error("ENOENT") })), "internal_error");
  assert.equal(reason(new DockerError(500, "/containers/create", "something broke")), "internal_error");
});

Deno.test("the gpu_unavailable message keeps the daemon's words and names the fix", () => {
  const r = classifyError(new DockerError(500, "/x", 'could not select device driver "nvidia"'));
  assert.match(r.message, /could not select device driver "nvidia"/);
  assert.match(r.message, /install nvidia-container-toolkit/);
});

Deno.test("an image the driver's CUDA cannot run is cuda_unsupported, from the agent's check or from NVIDIA's hook", () => {
  const own = classifyError(
    new CudaUnsupportedError("img:1", "image img:1 requires CUDA >= 12.4 (NVIDIA_REQUIRE_CUDA)"),
  );
  assert.deepEqual(own, {
    ok: false,
    reason: "cuda_unsupported",
    message: "image img:1 requires CUDA >= 12.4 (NVIDIA_REQUIRE_CUDA)",
  });
  // The hook's refusal names nvidia-container-cli, yet it is not "Docker has no GPUs" (gpu_unavailable).
  const hook = classifyError(new DockerError(500, "/containers/x/start", HOOK_REFUSAL));
  assert.equal(hook.reason, "cuda_unsupported");
  assert.match(hook.message, /unsatisfied condition: cuda>=11\.0/);
  assert.match(hook.message, /update the NVIDIA driver/);
  assert.doesNotMatch(hook.message, /install nvidia-container-toolkit/);
});
