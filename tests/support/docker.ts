/** Docker for tests: the daemon at DOCKER_HOST and a tiny busybox image built locally (no registry here). */
import { DockerClient, importBusyboxImage } from "../../src/docker/mod.ts";
import { BUSYBOX_PATH } from "../../src/docker/image_import.ts";
import { LABELS } from "../../src/docker/container_spec.ts";
import { NETNS_LABEL } from "../../src/docker/net_sandbox.ts";

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

/**
 * Removes the containers an agent with `address` left on the test daemon: its job containers and its network-sandbox
 * holders. A killed agent leaves them for its next start to adopt; a test that ends with a kill has no next start.
 */
export async function removeAgentContainers(docker: DockerClient, address: string): Promise<void> {
  for (const label of [LABELS.agent, NETNS_LABEL]) {
    const found = await docker.json<{ Id: string }[]>("GET", "/containers/json", {
      query: { all: true, filters: JSON.stringify({ label: [`${label}=${address}`] }) },
    }).catch(() => []);
    for (const c of found) {
      await docker.send("DELETE", `/containers/${c.Id}`, { query: { force: true }, okStatuses: [404] }).catch(() => {});
    }
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

/** The network-sandbox holder image of the tests: busybox's `sleep` as its one process (pause is not pullable here). */
export const SANDBOX_IMAGE = "lamda-test/pause:1";

let sandboxBuilt: Promise<string> | undefined;

/** Builds (once per test process) and returns {@linkcode SANDBOX_IMAGE}. */
export function ensureSandboxImage(): Promise<string> {
  sandboxBuilt ??= (async () => {
    using docker = new DockerClient(DOCKER_HOST);
    await importBusyboxImage(docker, SANDBOX_IMAGE, { changes: ['CMD ["/bin/sleep", "2147483647"]', "ENV PATH=/bin"] });
    return SANDBOX_IMAGE;
  })();
  return sandboxBuilt;
}

/** The test dockerd's data root (`DockerRootDir`): an agent's DOCKER_DATA_ROOT, so a sandboxed one may statfs it. */
export async function dockerDataRoot(): Promise<string> {
  using docker = new DockerClient(DOCKER_HOST);
  return (await docker.json<{ DockerRootDir?: string }>("GET", "/info")).DockerRootDir ?? "";
}

/** Whether the daemon behind `docker` has the image `ref`. */
export async function hasImage(docker: DockerClient, ref: string): Promise<boolean> {
  const res = await docker.request("GET", `/images/${ref}/json`, { okStatuses: [404] });
  await res.body?.cancel();
  return res.status === 200;
}

/** Removes the image `ref` names (by id: every tag and digest of it); a missing one is fine. */
export async function removeImage(docker: DockerClient, ref: string): Promise<void> {
  const res = await docker.request("GET", `/images/${ref}/json`, { okStatuses: [404] });
  if (res.status === 404) return void await res.body?.cancel();
  const { Id } = await res.json() as { Id: string };
  await docker.send("DELETE", `/images/${Id}`, { query: { force: true }, okStatuses: [404] });
}
