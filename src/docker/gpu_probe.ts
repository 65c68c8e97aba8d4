/**
 * GPU readiness as proof, not presence: dockerd is asked to start a container with the GPU device request jobs send,
 * and its answer decides. Docker resolves `DeviceRequests` only when it builds a container's OCI spec at start (moby
 * `daemon/devices_linux.go` `handleDevice`); without a device driver for `nvidia` + `gpu` it answers
 * `could not select device driver "nvidia" with capabilities: [[gpu]]`. The probe container has no executable, so
 * nothing ever runs in it: a daemon that accepted the request fails later, naming the probe's missing command.
 */
import { DockerError, DockerUnreachableError } from "./client.ts";
import type { DockerClient } from "./client.ts";
import { NVIDIA_FIX } from "./errors.ts";
import { importImage, packRootfs } from "./image_import.ts";
import { timeoutSignal } from "../timers.ts";

/**
 * What serves GPU device requests on this daemon: `nvidia runtime` (jobs run with the `nvidia` runtime),
 * `cdi` (Docker 29.2+ maps `nvidia` requests to CDI devices, and CDI spec dirs are configured), `hook` (Docker's
 * built-in NVIDIA driver, registered when `nvidia-container-runtime-hook` is on dockerd's PATH), or `none` (none
 * proven: dockerd has no device driver for the request, or the probe could not tell).
 */
export type GpuMechanism = "nvidia runtime" | "cdi" | "hook" | "none";

/** Whether GPU jobs can work on this daemon, as the probe proved it. */
export interface GpuSupport {
  /** dockerd accepted the GPU device request (and the probe container got as far as its missing command). */
  available: boolean;
  /** What serves the requests; `none` when none was proven. */
  mechanism: GpuMechanism;
  /** What was found, in one sentence (dockerd's own words when it refused). */
  found: string;
  /** What to do, when GPUs are not available. */
  fix?: string;
  /** `found`, and `fix` when there is one: what the start-up log shows. */
  message: string;
  /** How long the probe took, in ms. */
  probeMs: number;
}

/** What `/info` says that names the mechanism (the probe decides availability, this only labels it). */
export interface GpuEvidence {
  /** `Runtimes` of `/info`. */
  runtimes: string[];
  /** The runtime jobs run with: `DOCKER_RUNTIME`, else the daemon's `DefaultRuntime`. */
  jobRuntime: string;
  /** `CDISpecDirs` of `/info` (Engine API 1.44+; empty unless CDI is enabled). */
  cdiSpecDirs: string[];
  /** The daemon's version (`/version` `Version`). */
  serverVersion: string;
}

/** The image of the probe container: an empty rootfs imported locally, so the probe never needs a registry. */
export const GPU_PROBE_IMAGE = "lamda-node-agent/gpu-probe:1";
/** Label on probe containers, so a probe left by a killed agent can be found and removed. */
export const GPU_PROBE_LABEL = "lamda.gpu_probe";
/** The probe's command: a path that exists in no image, so the probe never executes anything. */
export const GPU_PROBE_COMMAND = "/lamda-gpu-probe-runs-nothing";

/**
 * The request jobs send (`Driver: "nvidia"`, capability `gpu`), asking for no device: Docker still has to select a
 * driver, but the NVIDIA hook is given no GPU to set up (moby: no `NVIDIA_VISIBLE_DEVICES` for Count 0 on 20.10,
 * `void` from 27.3, no hook from 29.2). `Driver: ""` would also match another vendor's `gpu` driver (AMD, Docker 29+).
 */
export const GPU_PROBE_REQUEST = { Driver: "nvidia", Count: 0, Capabilities: [["gpu"]] };

/** A probe container older than this was left by a killed process; younger ones may be another agent's, running. */
const STALE_PROBE_MS = 60_000;
/** The probe's own deadline: a daemon that hangs on a start gets a `failed` verdict, not a failed connect. */
export const GPU_PROBE_TIMEOUT_MS = 10_000;

/** How dockerd answered the probe's start. */
export type ProbeAnswer =
  | { kind: "accepted" }
  | { kind: "refused"; detail: string }
  | { kind: "failed"; detail: string };

/** Docker's own words in a DockerError, without the client's `Docker POST /path failed (500): ` prefix. */
function daemonWords(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^Docker \S+ \S+ failed \(\d+\): /, "");
}

/** Reads dockerd's answer to starting the probe container (`undefined`: it started). */
export function probeAnswer(startError: unknown): ProbeAnswer {
  if (startError === undefined) return { kind: "accepted" };
  const detail = daemonWords(startError);
  if (startError instanceof DockerError && /could not select device driver/i.test(detail)) {
    return { kind: "refused", detail };
  }
  // The runtime looked for the probe's command: the spec was built with the GPU request and every hook ran.
  if (startError instanceof DockerError && detail.includes(GPU_PROBE_COMMAND)) return { kind: "accepted" };
  return { kind: "failed", detail: `the probe container failed: ${detail}` };
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(/[.+-]/).map(Number);
  return a > major || (a === major && b >= minor);
}

/** Names the mechanism that serves an accepted request, from what `/info` shows. */
export function gpuMechanism(evidence: GpuEvidence): Exclude<GpuMechanism, "none"> {
  if (evidence.jobRuntime === "nvidia") return "nvidia runtime";
  // Before 29.2 an `nvidia` request always goes to the hook driver, whatever CDI is configured for.
  if (evidence.cdiSpecDirs.length > 0 && atLeast(evidence.serverVersion, 29, 2)) return "cdi";
  return "hook";
}

/** What each mechanism is, for the doctor and the log. */
export function describeGpuMechanism(mechanism: Exclude<GpuMechanism, "none">, evidence: GpuEvidence): string {
  switch (mechanism) {
    case "nvidia runtime":
      return "nvidia-container-toolkit: jobs run with the nvidia runtime";
    case "cdi":
      return `CDI: NVIDIA requests become CDI devices, specs in ${evidence.cdiSpecDirs.join(", ")}`;
    case "hook":
      return "built-in NVIDIA driver: nvidia-container-runtime-hook on dockerd's PATH" +
        (evidence.runtimes.includes("nvidia") ? "; the nvidia runtime is registered too" : "");
  }
}

/** Turns the probe's answer into the engine's GPU capability (all but the probe's duration). */
export function gpuSupport(answer: ProbeAnswer, evidence: GpuEvidence): Omit<GpuSupport, "probeMs"> {
  if (answer.kind === "accepted") {
    const mechanism = gpuMechanism(evidence);
    const found = `dockerd accepts GPU device requests (${describeGpuMechanism(mechanism, evidence)})`;
    return { available: true, mechanism, found, message: found };
  }
  let found: string, fix: string;
  if (answer.kind === "refused") {
    found = `dockerd does not accept GPU device requests: ${answer.detail} (runtimes: ${
      evidence.runtimes.join(", ") || "none"
    })`;
    fix = NVIDIA_FIX;
    // A registered nvidia runtime does not serve DeviceRequests: Docker's NVIDIA driver needs the hook on its PATH.
    if (evidence.runtimes.includes("nvidia")) {
      found += "; the nvidia runtime is registered, but nvidia-container-runtime-hook is not on dockerd's PATH";
      fix =
        "put nvidia-container-runtime-hook (part of nvidia-container-toolkit) on dockerd's PATH, then restart dockerd";
    }
  } else {
    found = `cannot prove that dockerd accepts GPU device requests: ${answer.detail}`;
    fix = "check dockerd's log; GPU jobs are still attempted and fail with dockerd's own words";
  }
  return { available: false, mechanism: "none", found, fix, message: `${found} — ${fix}` };
}

/** Options of {@linkcode probeGpuSupport}. */
export interface GpuProbeOptions {
  evidence: GpuEvidence;
  /** `DOCKER_RUNTIME`: the probe runs under the runtime jobs get. */
  runtime?: string;
  /** The caller's; its abort is rethrown. The probe's own deadline is {@linkcode GPU_PROBE_TIMEOUT_MS}. */
  signal?: AbortSignal;
  /** Overrides {@linkcode GPU_PROBE_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/**
 * Proves whether dockerd accepts the GPU device request jobs send: imports the probe image when missing, creates a
 * container with that request, starts it (nothing can run: it has no executable) and removes it again, always.
 * Throws only when the daemon cannot be reached or `signal` aborts; any other trouble (its own deadline included) is
 * the verdict's `failed`.
 */
export async function probeGpuSupport(client: DockerClient, options: GpuProbeOptions): Promise<GpuSupport> {
  const began = performance.now();
  const elapsed = () => Math.round(performance.now() - began);
  const { evidence } = options;
  const timeoutMs = options.timeoutMs ?? GPU_PROBE_TIMEOUT_MS;
  const deadline = timeoutSignal(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const rethrowTransport = (error: unknown) => {
    if (error instanceof DockerUnreachableError || options.signal?.aborted) throw error;
  };
  const words = (error: unknown) => deadline.aborted ? `it did not finish within ${timeoutMs} ms` : daemonWords(error);
  const name = `lamda-gpu-probe-${crypto.randomUUID().slice(0, 8)}`;
  let created = false;
  try {
    await removeStaleProbes(client, signal);
    await ensureProbeImage(client, signal);
    const hostConfig: Record<string, unknown> = {
      NetworkMode: "none",
      DeviceRequests: [GPU_PROBE_REQUEST],
      LogConfig: { Type: "none" },
    };
    if (options.runtime) hostConfig.Runtime = options.runtime;
    // Calls name the container, not its id: every request of the probe carries "gpu-probe" in its path.
    await client.send("POST", "/containers/create", {
      query: { name },
      body: {
        Image: GPU_PROBE_IMAGE,
        Cmd: [GPU_PROBE_COMMAND],
        Labels: { [GPU_PROBE_LABEL]: "true" },
        HostConfig: hostConfig,
      },
      signal,
    });
    created = true;
    let startError: unknown;
    try {
      await client.send("POST", `/containers/${name}/start`, { signal });
    } catch (error) {
      rethrowTransport(error);
      if (deadline.aborted) throw error;
      startError = error;
    }
    return { ...gpuSupport(probeAnswer(startError), evidence), probeMs: elapsed() };
  } catch (error) {
    rethrowTransport(error);
    const answer: ProbeAnswer = { kind: "failed", detail: `the probe failed: ${words(error)}` };
    return { ...gpuSupport(answer, evidence), probeMs: elapsed() };
  } finally {
    // Not under `signal`: a probe cut short is still removed.
    if (created) {
      await client.send("DELETE", `/containers/${name}`, {
        query: { force: true, v: true },
        okStatuses: [404],
        signal: timeoutSignal(10_000),
      }).catch(() => {});
    }
  }
}

async function ensureProbeImage(client: DockerClient, signal?: AbortSignal): Promise<void> {
  const res = await client.request("GET", `/images/${GPU_PROBE_IMAGE}/json`, { okStatuses: [404], signal });
  await res.body?.cancel();
  if (res.status === 404) await importImage(client, GPU_PROBE_IMAGE, await packRootfs([]), { signal });
}

async function removeStaleProbes(client: DockerClient, signal?: AbortSignal): Promise<void> {
  const stale = await client.json<{ Names?: string[]; Created: number }[]>("GET", "/containers/json", {
    query: { all: true, filters: JSON.stringify({ label: [GPU_PROBE_LABEL] }) },
    signal,
  });
  for (const c of stale) {
    const name = c.Names?.[0]?.replace(/^\//, "");
    if (!name || Date.now() - c.Created * 1000 < STALE_PROBE_MS) continue;
    await client.send("DELETE", `/containers/${name}`, { query: { force: true, v: true }, okStatuses: [404], signal });
  }
}
