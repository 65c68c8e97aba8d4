/** Docker for tests: the daemon at DOCKER_HOST and a tiny busybox image built locally (no registry here). */
import { DockerClient, importBusyboxImage } from "../../src/docker/mod.ts";
import { BUSYBOX_PATH } from "../../src/docker/image_import.ts";

/** The Docker host tests use: `DOCKER_HOST`, or the default socket. */
export const DOCKER_HOST = Deno.env.get("DOCKER_HOST") || "unix:///var/run/docker.sock";

/** The locally built test image. */
export const TEST_IMAGE = "lamda-test/busybox:latest";

/** Why Docker tests cannot run here, or undefined when dockerd answers and busybox-static is installed. */
export async function dockerMissing(): Promise<string | undefined> {
  try {
    await Deno.stat(BUSYBOX_PATH);
  } catch {
    return `${BUSYBOX_PATH} not found (apt-get install -y busybox-static)`;
  }
  using docker = new DockerClient(DOCKER_HOST);
  try {
    await docker.send("GET", "/_ping", { signal: AbortSignal.timeout(3000) });
    return undefined;
  } catch (error) {
    return `dockerd does not answer at ${DOCKER_HOST}: ${(error as Error).message}`;
  }
}

let built: Promise<string> | undefined;

/** Builds (once per test process) and returns the busybox test image reference. */
export function ensureTestImage(): Promise<string> {
  built ??= (async () => {
    using docker = new DockerClient(DOCKER_HOST);
    await importBusyboxImage(docker, TEST_IMAGE);
    return TEST_IMAGE;
  })();
  return built;
}
