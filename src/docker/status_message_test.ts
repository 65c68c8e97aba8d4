import assert from "node:assert/strict";
import { DockerError, DockerUnreachableError } from "./client.ts";
import { GpuUnavailableError, ImagePolicyError, ImagePullError } from "./errors.ts";
import { classifyError, classifyOutcome } from "./outcome.ts";
import { InvalidJobSpecError } from "./rules.ts";
import { dockerStatusMessage, HOST_PATH, withoutHostPaths } from "./status_message.ts";

const OVERLAY = "/var/lib/docker/overlay2/5f3c0d1e2a9b/merged";

Deno.test("a Docker error naming an overlay directory yields a status message without it", () => {
  const error = new DockerError(
    500,
    "/containers/abc123/start",
    `Docker POST /containers/abc123/start failed (500): failed to create task for container: mount ${OVERLAY}/dev/shm: ` +
      "no space left on device: unknown",
  );
  const message = classifyError(error).message;
  assert.ok(!message.includes("/var/lib/docker"), message);
  assert.ok(!message.includes("overlay2"), message);
  assert.match(message, /mount <host path>: no space left on device/);
  assert.match(message, /^the node's disk is full: Docker POST \/containers\/abc123\/start failed \(500\)/);
});

Deno.test("runtime state, DATA_DIR bind sources and the socket are host paths; the job's own paths stay", () => {
  const text = 'error mounting "/srv/lamda/data/jobs/a_b-1c2d3e4f-a1/output" to rootfs at "/results": ' +
    "open /run/containerd/io.containerd.runtime.v2.task/moby/abc/config.json: permission denied; " +
    "also /input/data.csv, /output/x and cannot reach unix:///var/run/docker.sock";
  assert.equal(
    withoutHostPaths(text, { containerPaths: ["/results"] }),
    `error mounting "${HOST_PATH}" to rootfs at "/results": open ${HOST_PATH}: permission denied; ` +
      `also /input/data.csv, /output/x and cannot reach unix://${HOST_PATH}`,
  );
});

Deno.test("URLs, image names and API paths are not host paths", () => {
  const text = 'Get "https://127.0.0.1:5000/v2/team/model/manifests/1": dial tcp: connection refused; ' +
    "pull docker.io/library/busybox:latest; 127.0.0.1:5000/team/model@sha256:abc";
  assert.equal(withoutHostPaths(text), text);
  const error = new DockerError(
    404,
    "/images/lamda/x:1/json",
    "Docker GET /images/lamda/x:1/json failed (404): No such image: lamda/x:1",
  );
  assert.equal(dockerStatusMessage(error), error.message);
});

Deno.test("a path the job's command gave stays only whole; what is under it is still hidden", () => {
  const text = 'exec: "/app/run.sh": stat /app/run.sh: no such file or directory; see /app/run.sh/../../host';
  assert.equal(
    withoutHostPaths(text, { jobPaths: ["/app/run.sh"] }),
    `exec: "/app/run.sh": stat /app/run.sh: no such file or directory; see ${HOST_PATH}`,
  );
});

Deno.test("the job's own invalid values are shown as they are; daemon words never with host paths", () => {
  const invalid = new InvalidJobSpecError("output_path", "output_path /proc/x is not allowed");
  assert.equal(classifyError(invalid).message, "output_path /proc/x is not allowed");
  const policy = new ImagePolicyError("x", "image docker.io/library/x is not in this node's IMAGE_ALLOWLIST");
  assert.equal(classifyError(policy).message, policy.message);
  for (
    const error of [
      new ImagePullError("x", `cannot pull x: write ${OVERLAY}/layer.tar: input/output error`),
      new GpuUnavailableError(`nvidia-container-cli: mount error: ${OVERLAY}/run/nvidia-persistenced/socket`),
      new DockerUnreachableError("unix:///var/lib/lamda/docker.sock", { cause: new Error("reset") }),
      new Error(`ENOENT: open '${OVERLAY}/x'`),
    ]
  ) {
    const message = classifyError(error).message;
    assert.ok(!message.includes("/var/lib"), `${error.name}: ${message}`);
  }
});

Deno.test("an error met while a container ran keeps the job's output_path in its message", () => {
  const error = new DockerError(
    400,
    "/containers/create",
    `Docker POST /containers/create failed (400): invalid mount config for type "bind": bind source path does not ` +
      `exist: /srv/data/jobs/j-a1/output (target /results/run)`,
  );
  const o = classifyOutcome({ error, statusPaths: { containerPaths: ["/results"] } });
  assert.ok(!o.ok);
  assert.equal(
    o.message,
    `Docker POST /containers/create failed (400): invalid mount config for type "bind": bind source path does not ` +
      `exist: ${HOST_PATH} (target /results/run)`,
  );
});
