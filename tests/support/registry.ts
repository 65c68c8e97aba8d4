/**
 * A real image registry for tests: Debian's `docker-registry` (distribution 2.x) on 127.0.0.1 with filesystem storage
 * in a temp dir. dockerd trusts registries on 127.0.0.0/8 over plain HTTP, so it pulls from it like from any other.
 */
import { DockerClient } from "../../src/docker/mod.ts";
import { freePort, waitForPort } from "./ports.ts";
import { stopChild, which } from "./service.ts";

/** Why a local registry cannot run here, or undefined when it can. */
export function registryMissing(): string | undefined {
  return which("docker-registry") ? undefined : "docker-registry is not installed (apt-get install -y docker-registry)";
}

/** A `docker-registry serve` child process owned by a test. */
export class LocalRegistry implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  #child: Deno.ChildProcess;

  private constructor(port: number, dir: string, child: Deno.ChildProcess) {
    this.port = port;
    this.dir = dir;
    this.#child = child;
  }

  /** `127.0.0.1:<port>`, the registry part of an image reference. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://${this.host}`;
  }

  /** Starts a registry on a free port and waits until `GET /v2/` answers. */
  static async start(): Promise<LocalRegistry> {
    const dir = await Deno.makeTempDir({ prefix: "lamda-registry-" });
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/config.yml`,
      [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${dir}/data`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: 127.0.0.1:${port}`,
        "",
      ].join("\n"),
    );
    const child = new Deno.Command("docker-registry", {
      args: ["serve", `${dir}/config.yml`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const registry = new LocalRegistry(port, dir, child);
    try {
      await waitForPort(port, 15_000, `docker-registry on ${port}`);
      const res = await fetch(`${registry.url}/v2/`);
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`docker-registry answers GET /v2/ with ${res.status}`);
      return registry;
    } catch (error) {
      await registry[Symbol.asyncDispose]();
      throw error;
    }
  }

  /**
   * Pushes the local image `source` as `<this registry>/<name>` (`repo:tag`) through the Engine API at `dockerHost`,
   * then removes the pushed tag from the daemon again. Returns the pushed reference.
   */
  async push(dockerHost: string, source: string, name: string): Promise<string> {
    const colon = name.lastIndexOf(":");
    const [repo, tag] = [name.slice(0, colon), name.slice(colon + 1)];
    const target = `${this.host}/${repo}`;
    using docker = new DockerClient(dockerHost);
    await docker.send("POST", `/images/${source}/tag`, { query: { repo: target, tag } });
    // The Engine API wants X-Registry-Auth on every push; this registry needs no credentials.
    const res = await docker.request("POST", `/images/${target}/push`, {
      query: { tag },
      headers: { "X-Registry-Auth": btoa("{}") },
    });
    // A JSON progress stream; a failure arrives inside it with status 200.
    for (const line of (await res.text()).split("\n")) {
      if (!line.trim()) continue;
      const msg = JSON.parse(line) as { error?: string };
      if (msg.error) throw new Error(`Cannot push ${source} to ${target}:${tag}: ${msg.error}`);
    }
    await docker.send("DELETE", `/images/${target}:${tag}`, { okStatuses: [404] });
    return `${target}:${tag}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await stopChild(this.#child, "SIGTERM", 5000);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
