/**
 * A real image registry for tests: Debian's `docker-registry` (distribution 2.x) on 127.0.0.1 with filesystem storage
 * in a temp dir, optionally behind htpasswd auth. dockerd trusts registries on 127.0.0.0/8 over plain HTTP, so it
 * pulls from it like from any other.
 */
import bcrypt from "bcryptjs";
import { DockerClient, importBusyboxImage } from "../../src/docker/mod.ts";
import { DOCKER_HOST } from "./docker.ts";
import { freePort, waitForPort } from "./ports.ts";
import { stopChild, which } from "./service.ts";

/** Why a local registry cannot run here, or undefined when it can. */
export function registryMissing(): string | undefined {
  return which("docker-registry") ? undefined : "docker-registry is not installed (apt-get install -y docker-registry)";
}

/** One user of a registry's htpasswd file. */
export interface RegistryUser {
  username: string;
  password: string;
}

/** Options of {@linkcode LocalRegistry.start}. */
export interface LocalRegistryOptions {
  /** Requires HTTP basic auth for every request (distribution's `htpasswd` auth), with this one user. */
  htpasswd?: RegistryUser;
}

/** A `docker-registry serve` child process owned by a test. */
export class LocalRegistry implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  /** The user every request must authenticate as, when started with `htpasswd`. */
  readonly user: RegistryUser | undefined;
  #child: Deno.ChildProcess;

  private constructor(port: number, dir: string, child: Deno.ChildProcess, user: RegistryUser | undefined) {
    this.port = port;
    this.dir = dir;
    this.user = user;
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

  /** Starts a registry on a free port and waits until `GET /v2/` answers (200, or 401 behind auth). */
  static async start(options: LocalRegistryOptions = {}): Promise<LocalRegistry> {
    const dir = await Deno.makeTempDir({ prefix: "lamda-registry-" });
    const port = freePort();
    const user = options.htpasswd;
    const auth: string[] = [];
    if (user) {
      // distribution reads bcrypt entries only (`htpasswd -B`).
      const hash = await bcrypt.hash(user.password, 4);
      await Deno.writeTextFile(`${dir}/htpasswd`, `${user.username}:${hash}\n`);
      auth.push("auth:", "  htpasswd:", "    realm: lamda-test-registry", `    path: ${dir}/htpasswd`);
    }
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
        ...auth,
        "",
      ].join("\n"),
    );
    const child = new Deno.Command("docker-registry", {
      args: ["serve", `${dir}/config.yml`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const registry = new LocalRegistry(port, dir, child, user);
    try {
      await waitForPort(port, 15_000, `docker-registry on ${port}`);
      const res = await fetch(`${registry.url}/v2/`);
      await res.body?.cancel();
      if (res.status !== (user ? 401 : 200)) throw new Error(`docker-registry answers GET /v2/ with ${res.status}`);
      if (user) {
        const authed = await fetch(`${registry.url}/v2/`, { headers: registry.#basicAuth() });
        await authed.body?.cancel();
        if (authed.status !== 200) throw new Error(`docker-registry refuses its own user (${authed.status})`);
      }
      return registry;
    } catch (error) {
      await registry[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The `Authorization` header of this registry's user; none without auth. */
  #basicAuth(): Record<string, string> {
    return this.user ? { authorization: `Basic ${btoa(`${this.user.username}:${this.user.password}`)}` } : {};
  }

  /**
   * The schema 2 manifest the registry serves for `repo:tag`: its digest (the `Docker-Content-Digest` header, what a
   * `name@sha256:…` reference names) and its layers' digests and compressed sizes.
   */
  async manifest(name: string): Promise<{ digest: string; layers: { digest: string; size: number }[] }> {
    const colon = name.lastIndexOf(":");
    const [repo, tag] = [name.slice(0, colon), name.slice(colon + 1)];
    const res = await fetch(`${this.url}/v2/${repo}/manifests/${tag}`, {
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json", ...this.#basicAuth() },
    });
    const digest = res.headers.get("docker-content-digest");
    if (res.status !== 200 || !digest) {
      await res.body?.cancel();
      throw new Error(`Cannot read the manifest of ${repo}:${tag} (${res.status})`);
    }
    const { layers } = await res.json() as { layers: { digest: string; size: number }[] };
    return { digest, layers: layers.map((l) => ({ digest: l.digest, size: l.size })) };
  }

  /**
   * Pushes the local image `source` as `<this registry>/<name>` (`repo:tag`) through the Engine API at `dockerHost`,
   * with this registry's user when it has one, then removes the pushed tag from the daemon again. Returns the pushed
   * reference.
   */
  async push(dockerHost: string, source: string, name: string): Promise<string> {
    const colon = name.lastIndexOf(":");
    const [repo, tag] = [name.slice(0, colon), name.slice(colon + 1)];
    const target = `${this.host}/${repo}`;
    using docker = new DockerClient(dockerHost);
    await docker.send("POST", `/images/${source}/tag`, { query: { repo: target, tag } });
    // The Engine API wants X-Registry-Auth on every push: `{}` when the registry needs no credentials.
    const credentials = this.user
      ? { username: this.user.username, password: this.user.password, serveraddress: this.host }
      : {};
    // dockerd decodes the header with the URL-safe base64 alphabet.
    const header = btoa(JSON.stringify(credentials)).replaceAll("+", "-").replaceAll("/", "_");
    try {
      const res = await docker.request("POST", `/images/${target}/push`, {
        query: { tag },
        headers: { "X-Registry-Auth": header },
      });
      // A JSON progress stream; a failure arrives inside it with status 200.
      for (const line of (await res.text()).split("\n")) {
        if (!line.trim()) continue;
        const msg = JSON.parse(line) as { error?: string };
        if (msg.error) throw new Error(`Cannot push ${source} to ${target}:${tag}: ${msg.error}`);
      }
    } finally {
      await docker.send("DELETE", `/images/${target}:${tag}`, { okStatuses: [404] });
    }
    return `${target}:${tag}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await stopChild(this.#child, "SIGTERM", 5000);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Pushes an image only this run has (a busybox rootfs with a random 1 MiB file, so its layer is new to dockerd) to
 * `registry` and removes it from dockerd again: a pull of it makes dockerd download every blob. Returns its name
 * (`repo:tag`) without the registry part; `repo` defaults to `lamda-pull/uppercase`.
 */
export async function pushFreshImage(registry: LocalRegistry, repo = "lamda-pull/uppercase"): Promise<string> {
  const nonce = crypto.randomUUID().slice(0, 8);
  const random = new Uint8Array(1 << 20);
  for (let i = 0; i < random.length; i += 65_536) crypto.getRandomValues(random.subarray(i, i + 65_536));
  const source = `lamda-pull-src:${nonce}`;
  using docker = new DockerClient(DOCKER_HOST);
  await importBusyboxImage(docker, source, { extraFiles: [{ path: "etc/lamda-nonce", content: random }] });
  const name = `${repo}:${nonce}`;
  try {
    await registry.push(DOCKER_HOST, source, name);
  } finally {
    await docker.send("DELETE", `/images/${source}`, { okStatuses: [404] });
  }
  return name;
}
