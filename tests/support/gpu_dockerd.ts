/**
 * A second dockerd that accepts GPU device requests on a machine without a GPU. dockerd registers its built-in NVIDIA
 * device driver when an executable named `nvidia-container-runtime-hook` is on its PATH (moby 20.10
 * `daemon/nvidia_linux.go` `init`); that driver then takes `DeviceRequests` with capability `gpu`, adds
 * `NVIDIA_VISIBLE_DEVICES=<requested ids>` to the container's env and the hook as an OCI prestart hook. Here the hook
 * is a stand-in: like the real one it reads the OCI state on stdin and the container's `config.json` from the bundle,
 * but it only records what it would act on (its arguments, the container id, `NVIDIA_VISIBLE_DEVICES`) and exits 0.
 *
 * The daemon has its own socket, data root, exec root, pidfile and config file, and no bridge or iptables rules, so it
 * cannot clash with the shared daemon at DOCKER_HOST. Test-only.
 */
import { DockerClient, importBusyboxImage } from "../../src/docker/mod.ts";
import { BUSYBOX_PATH } from "../../src/docker/image_import.ts";
import { sleep } from "../../src/timers.ts";
import { TEST_IMAGE } from "./docker.ts";
import { serviceAvailable, stopChild, which } from "./service.ts";

/** The name dockerd looks up on its PATH to register the NVIDIA driver. */
export const NVIDIA_HOOK = "nvidia-container-runtime-hook";

/** Why a GPU dockerd cannot run here, or undefined when it can. */
export async function gpuDockerdMissing(): Promise<string | undefined> {
  if (!which("dockerd")) return "dockerd is not installed";
  if (Deno.uid() !== 0) return "starting a second dockerd needs root";
  try {
    await Deno.stat(BUSYBOX_PATH);
  } catch {
    return `${BUSYBOX_PATH} not found (apt-get install -y busybox-static)`;
  }
  return undefined;
}

/** Whether the GPU dockerd tests can run here (prints a SKIP line, or throws in CI). */
export async function gpuDockerdReady(): Promise<boolean> {
  return serviceAvailable("a GPU dockerd (nvidia-container-runtime-hook stand-in)", await gpuDockerdMissing());
}

/** One call of the stand-in hook. */
export interface HookCall {
  /** Its arguments after argv[0] (dockerd passes `prestart`). */
  args: string;
  /** The container's id, from the OCI state on stdin. */
  containerId: string;
  /** `NVIDIA_VISIBLE_DEVICES` in the container's OCI spec; undefined when absent. */
  visibleDevices?: string;
}

// The stand-in. The state on stdin is one JSON line from runc; config.json is runc's spec, also without newlines in
// the env strings that matter, so sed and grep read them.
const HOOK_SCRIPT = (log: string) =>
  `#!/bin/sh
state=$(cat)
id=$(printf '%s' "$state" | sed -n 's/.*"id" *: *"\\([^"]*\\)".*/\\1/p')
bundle=$(printf '%s' "$state" | sed -n 's/.*"bundle" *: *"\\([^"]*\\)".*/\\1/p')
devices=$(grep -o '"NVIDIA_VISIBLE_DEVICES=[^"]*"' "$bundle/config.json" | head -n 1 | sed 's/^"NVIDIA_VISIBLE_DEVICES=//; s/"$//')
[ -n "$devices" ] || devices=-
printf '%s\\t%s\\t%s\\n' "$*" "$id" "$devices" >> '${log}'
exit 0
`;

/** A running dockerd with the stand-in hook on its PATH and the busybox test image imported. */
export class GpuDockerd implements AsyncDisposable {
  readonly dir: string;
  /** Its `unix://` address, for DOCKER_HOST or `testEngine({ host })`. */
  readonly host: string;
  /** The test image, imported into this daemon. */
  readonly image = TEST_IMAGE;
  /** ms from spawn until `/_ping` answered, and until the image was imported. */
  readonly timings = { startMs: 0, readyMs: 0 };
  #child: Deno.ChildProcess;
  #logDone: Promise<void>;

  private constructor(dir: string, child: Deno.ChildProcess, logDone: Promise<void>) {
    this.dir = dir;
    this.host = `unix://${dir}/docker.sock`;
    this.#child = child;
    this.#logDone = logDone;
  }

  /** Path of the hook's record: one tab-separated line per call. */
  get hookLog(): string {
    return `${this.dir}/hook.log`;
  }

  /** Starts the daemon and imports the test image; throws with the daemon's log when it does not come up. */
  static async start(): Promise<GpuDockerd> {
    const began = performance.now();
    const dir = await Deno.makeTempDir({ prefix: "lamda-gpud-" });
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    await Deno.writeTextFile(`${bin}/${NVIDIA_HOOK}`, HOOK_SCRIPT(`${dir}/hook.log`), { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/hook.log`, "");
    // Its own config file: whatever /etc/docker/daemon.json says (hosts, data-root) is the shared daemon's.
    await Deno.writeTextFile(`${dir}/daemon.json`, "{}\n");
    const child = new Deno.Command("dockerd", {
      args: [
        "--host",
        `unix://${dir}/docker.sock`,
        "--config-file",
        `${dir}/daemon.json`,
        "--data-root",
        `${dir}/data`,
        "--exec-root",
        `${dir}/exec`,
        "--pidfile",
        `${dir}/docker.pid`,
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
      ],
      env: { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}` },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const logFile = await Deno.open(`${dir}/dockerd.log`, { write: true, create: true });
    const logDone = child.stderr.pipeTo(logFile.writable).catch(() => {});
    const daemon = new GpuDockerd(dir, child, logDone);
    try {
      await daemon.#waitForPing(began);
      daemon.timings.startMs = Math.round(performance.now() - began);
      using docker = new DockerClient(daemon.host);
      await importBusyboxImage(docker, TEST_IMAGE);
      daemon.timings.readyMs = Math.round(performance.now() - began);
      return daemon;
    } catch (error) {
      await daemon[Symbol.asyncDispose]();
      throw error;
    }
  }

  async #waitForPing(began: number): Promise<void> {
    let exited = false;
    this.#child.status.then(() => exited = true);
    for (;;) {
      using docker = new DockerClient(this.host);
      try {
        await docker.send("GET", "/_ping", { signal: AbortSignal.timeout(2000) });
        return;
      } catch (error) {
        if (exited || performance.now() - began > 60_000) {
          const log = await Deno.readTextFile(`${this.dir}/dockerd.log`).catch(() => "");
          throw new Error(`the GPU dockerd did not start; its log ends:\n${log.slice(-2000)}`, { cause: error });
        }
        await sleep(50);
      }
    }
  }

  /** The hook's calls so far, in order. */
  async hookCalls(): Promise<HookCall[]> {
    const text = await Deno.readTextFile(this.hookLog);
    return text.split("\n").filter(Boolean).map((line) => {
      const [args, containerId, devices] = line.split("\t");
      return { args, containerId, visibleDevices: devices === "-" ? undefined : devices };
    });
  }

  /** Stops the daemon (SIGTERM, then waits; SIGKILL after 20 s) and removes its directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    await stopChild(this.#child, "SIGTERM", 20_000);
    await this.#logDone;
    // A clean stop unmounts everything under the data and exec roots; what remains is plain files.
    await Deno.remove(this.dir, { recursive: true }).catch((error) => {
      console.warn(`cannot remove the GPU dockerd's directory ${this.dir}: ${error}`);
    });
  }
}
