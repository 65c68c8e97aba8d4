import assert from "node:assert/strict";
import { DockerError, DockerUnreachableError } from "./client.ts";
import { NVIDIA_FIX } from "./errors.ts";
import { GPU_PROBE_COMMAND, type GpuEvidence, gpuMechanism, gpuSupport, probeAnswer } from "./gpu_probe.ts";

const PLAIN: GpuEvidence = {
  runtimes: ["io.containerd.runc.v2", "runc"],
  jobRuntime: "runc",
  cdiSpecDirs: [],
  serverVersion: "20.10.24",
};
const start = (message: string) =>
  new DockerError(
    500,
    "/containers/lamda-gpu-probe-1/start",
    `Docker POST /containers/lamda-gpu-probe-1/start failed (500): ${message}`,
  );

// dockerd 20.10.24's answers, as the probe gets them.
const REFUSED = 'could not select device driver "nvidia" with capabilities: [[gpu]]';
const RAN_TO_COMMAND = "failed to create shim task: OCI runtime create failed: runc create failed: unable to start " +
  `container process: exec: "${GPU_PROBE_COMMAND}": stat ${GPU_PROBE_COMMAND}: no such file or directory: unknown`;

Deno.test("the probe's answer: refused for no device driver, accepted when the runtime looked for its command", () => {
  assert.deepEqual(probeAnswer(start(REFUSED)), { kind: "refused", detail: REFUSED });
  assert.deepEqual(probeAnswer(start(RAN_TO_COMMAND)), { kind: "accepted" });
  assert.deepEqual(probeAnswer(undefined), { kind: "accepted" });
  // The hook vanished after dockerd started: the driver is selected, but the spec cannot be built. Not a proof.
  const lost = 'exec: "nvidia-container-runtime-hook": executable file not found in $PATH';
  assert.deepEqual(probeAnswer(start(lost)), { kind: "failed", detail: `the probe container failed: ${lost}` });
  assert.equal(probeAnswer(new DockerUnreachableError("unix:///x.sock")).kind, "failed");
});

Deno.test("the mechanism: the nvidia runtime when jobs run with it, CDI only where Docker maps nvidia requests to CDI, else the hook", () => {
  assert.equal(gpuMechanism(PLAIN), "hook");
  assert.equal(gpuMechanism({ ...PLAIN, runtimes: ["nvidia", "runc"] }), "hook", "registered but not used");
  assert.equal(gpuMechanism({ ...PLAIN, runtimes: ["nvidia", "runc"], jobRuntime: "nvidia" }), "nvidia runtime");
  const cdi = { ...PLAIN, cdiSpecDirs: ["/etc/cdi", "/var/run/cdi"] };
  assert.equal(gpuMechanism({ ...cdi, serverVersion: "28.3.1" }), "hook", "before 29.2 nvidia requests use the hook");
  assert.equal(gpuMechanism({ ...cdi, serverVersion: "29.2.0" }), "cdi");
  assert.equal(gpuMechanism({ ...cdi, serverVersion: "30.0.0" }), "cdi");
});

Deno.test("GPU support: accepted names the mechanism; refused quotes dockerd and gives the toolkit fix", () => {
  const hook = gpuSupport({ kind: "accepted" }, PLAIN);
  assert.deepEqual(hook, {
    available: true,
    mechanism: "hook",
    found:
      "dockerd accepts GPU device requests (built-in NVIDIA driver: nvidia-container-runtime-hook on dockerd's PATH)",
    message:
      "dockerd accepts GPU device requests (built-in NVIDIA driver: nvidia-container-runtime-hook on dockerd's PATH)",
  });
  const cdi = gpuSupport({ kind: "accepted" }, { ...PLAIN, cdiSpecDirs: ["/etc/cdi"], serverVersion: "29.2.1" });
  assert.match(cdi.found, /\(CDI: NVIDIA requests become CDI devices, specs in \/etc\/cdi\)$/);

  const none = gpuSupport({ kind: "refused", detail: REFUSED }, PLAIN);
  assert.equal(none.available, false);
  assert.equal(none.mechanism, "none");
  assert.equal(
    none.found,
    `dockerd does not accept GPU device requests: ${REFUSED} (runtimes: io.containerd.runc.v2, runc)`,
  );
  assert.equal(none.fix, NVIDIA_FIX);
  assert.equal(none.message, `${none.found} — ${NVIDIA_FIX}`);
});

Deno.test("GPU support: a registered nvidia runtime without the hook on dockerd's PATH is refused, with that fix", () => {
  const s = gpuSupport({ kind: "refused", detail: REFUSED }, { ...PLAIN, runtimes: ["nvidia", "runc"] });
  assert.equal(s.available, false);
  assert.match(
    s.found,
    /the nvidia runtime is registered, but nvidia-container-runtime-hook is not on dockerd's PATH$/,
  );
  assert.match(s.fix!, /^put nvidia-container-runtime-hook .* on dockerd's PATH, then restart dockerd$/);
});

Deno.test("GPU support: a probe that fails otherwise proves nothing: unavailable, mechanism none, dockerd's words", () => {
  const s = gpuSupport({ kind: "failed", detail: "the probe failed: no space left on device" }, PLAIN);
  assert.equal(s.available, false);
  assert.equal(s.mechanism, "none");
  assert.equal(
    s.found,
    "cannot prove that dockerd accepts GPU device requests: the probe failed: no space left on device",
  );
  assert.match(s.message, /check dockerd's log/);
});
