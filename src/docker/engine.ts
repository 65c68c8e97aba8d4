/** The Docker engine as the agent uses it: connect (version, /info checks), images, job containers, recovery. */
import { timeoutSignal } from "../timers.ts";
import type { Config } from "../config/mod.ts";
import { drawsProgress, type Logger } from "../log/mod.ts";
import { DockerClient, DockerError } from "./client.ts";
import { buildContainer, type JobContainerSpec } from "./container_spec.ts";
import { ContainerExistsError, DockerSetupError } from "./errors.ts";
import { type GpuSupport, probeGpuSupport } from "./gpu_probe.ts";
import {
  ensureImage,
  type EnsureImageOptions,
  type ImageInfo,
  type ImagePolicy,
  redactRegistryAuth,
  type RegistryAuth,
} from "./images.ts";
import { DEFAULT_JOB_LIMITS, type JobLimits, jobLimitsFromConfig } from "./limits.ts";
import type { LogStream } from "./log_demux.ts";
import { classifyError, type ContainerOutcome } from "./outcome.ts";
import type { ProgressMode } from "./pull_progress.ts";
import { type JobContainer, listJobContainers, removeOrphans, resumeJob } from "./recovery.ts";
import { abortKind, superviseContainer } from "./supervise.ts";
import { NetworkSandboxes, type SandboxLease } from "./net_sandbox.ts";
import type { StepTimes } from "../timing.ts";

/** Oldest Engine API this agent speaks (DeviceRequests need 1.40). */
export const MIN_API_VERSION = "1.40";
/** Newest Engine API this agent was written against; newer daemons are pinned to it. */
export const MAX_API_VERSION = "1.45";

/** Options of {@linkcode DockerEngine.connect}. */
export interface EngineOptions {
  host: string;
  /** The agent's address: the `lamda.agent` label of its containers. */
  agentAddress: string;
  logger: Logger;
  limits?: JobLimits;
  policy?: ImagePolicy;
  auth?: RegistryAuth;
  pullTimeoutMs?: number;
  pullInactivityTimeoutMs?: number;
  progress?: ProgressMode;
  /**
   * The image of the network-sandbox holders job containers join (net_sandbox.ts); unset or empty: each job container
   * gets a network namespace of its own. Only with the `none` job network.
   */
  networkSandboxImage?: string;
  signal?: AbortSignal;
}

/** What the daemon can do, read once at start-up. */
export interface EngineCapabilities {
  apiVersion: string;
  serverVersion: string;
  runtimes: string[];
  defaultRuntime: string;
  /**
   * Whether GPU jobs can work, proven by a probe container with the jobs' GPU request (`gpu_probe.ts`), and what
   * serves them; `message` names the problem and the fix when they cannot.
   */
  gpu: GpuSupport;
  /** CPUs of the host; a CPU limit above it is lowered to it (Docker refuses more). */
  cpus: number;
  /** The daemon's data root (`DockerRootDir`), where images live; empty when it does not say. */
  dataRoot: string;
}

/** Options of {@linkcode DockerEngine.run}. */
export interface RunOptions {
  signal?: AbortSignal;
  /** Every output line, in order per stream. */
  onLine?: (stream: LogStream, line: string) => void;
  /** Where the container's time goes: `create`, `start`, `logs`, `wait`, `inspect`, `remove` (ms). */
  times?: StepTimes;
  /** Remove the container while the caller goes on; `outcome.removed` settles when it is gone. */
  deferRemove?: boolean;
}

function compareVersions(a: string, b: string): number {
  const [a1, a2] = a.split(".").map(Number), [b1, b2] = b.split(".").map(Number);
  return a1 - b1 || a2 - b2;
}

/** Whether a create or start failed for the network sandbox the container joins (not for the job's own reasons). */
function sandboxFailed(error: unknown, sandboxId: string): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /cannot join network|non running container|joining network namespace/i.test(message) ||
    (message.includes(sandboxId.slice(0, 12)) && /no such container|not running/i.test(message));
}

/** Builds engine options from the agent's config. */
export function engineOptionsFromConfig(config: Config, agentAddress: string, logger: Logger): EngineOptions {
  const auth = config.registryAuthServer && config.registryAuthUsername && config.registryAuthPassword
    ? {
      server: config.registryAuthServer,
      username: config.registryAuthUsername,
      password: config.registryAuthPassword,
    }
    : undefined;
  return {
    host: config.dockerHost,
    agentAddress,
    logger,
    limits: jobLimitsFromConfig(config),
    policy: { allowlist: config.imageAllowlist, requireDigest: config.imageRequireDigest },
    auth,
    pullTimeoutMs: config.pullTimeout,
    pullInactivityTimeoutMs: config.pullInactivityTimeout,
    progress: drawsProgress(config.logFormat) ? "bar" : "log",
    networkSandboxImage: config.jobNetworkSandboxImage,
  };
}

/** One Docker daemon, negotiated and checked; runs this agent's job containers. */
export class DockerEngine {
  readonly client: DockerClient;
  readonly capabilities: EngineCapabilities;
  readonly limits: JobLimits;
  readonly agentAddress: string;
  #options: EngineOptions;
  #log: Logger;
  #sandboxes: NetworkSandboxes | undefined;
  // Holders waiting for their job's container to be removed before they go back (closeSandboxes waits for them).
  #releasing = new Set<Promise<void>>();

  private constructor(client: DockerClient, capabilities: EngineCapabilities, options: EngineOptions) {
    this.client = client;
    this.capabilities = capabilities;
    const limits = options.limits ?? DEFAULT_JOB_LIMITS;
    this.limits = capabilities.cpus > 0 && limits.cpus > capabilities.cpus
      ? { ...limits, cpus: capabilities.cpus }
      : limits;
    this.agentAddress = options.agentAddress;
    this.#options = options;
    this.#log = options.logger.child({ component: "docker" });
    // Shared with the process logger: whoever logs an error that echoes the credentials, they are hidden.
    redactRegistryAuth(this.#log.redactor, options.auth);
  }

  /**
   * Connects: negotiates the API version from `/version`, reads `/info` (configured runtime), probes GPU support.
   * Throws `DockerUnreachableError` when the daemon cannot be reached, {@linkcode DockerSetupError} when it cannot serve.
   */
  static async connect(options: EngineOptions): Promise<DockerEngine> {
    const client = new DockerClient(options.host);
    try {
      const signal = options.signal ?? timeoutSignal(15_000);
      const version = await client.json<{ ApiVersion: string; Version: string }>("GET", "/version", { signal });
      if (compareVersions(version.ApiVersion, MIN_API_VERSION) < 0) {
        throw new DockerSetupError(
          `Docker ${version.Version} speaks Engine API ${version.ApiVersion}; this agent needs ${MIN_API_VERSION} or newer (Docker 19.03+)`,
        );
      }
      const api = compareVersions(version.ApiVersion, MAX_API_VERSION) > 0 ? MAX_API_VERSION : version.ApiVersion;
      client.useApiVersion(api);
      const info = await client.json<{
        Runtimes?: Record<string, unknown>;
        DefaultRuntime?: string;
        NCPU?: number;
        DockerRootDir?: string;
        CDISpecDirs?: string[] | null;
      }>("GET", "/info", { signal });
      const runtimes = Object.keys(info.Runtimes ?? {});
      const runtime = options.limits?.runtime;
      if (runtime && !runtimes.includes(runtime)) {
        throw new DockerSetupError(
          `DOCKER_RUNTIME=${runtime} is not a runtime of this dockerd (it has: ${runtimes.join(", ")}); ` +
            `register it in /etc/docker/daemon.json "runtimes" and restart dockerd`,
        );
      }
      const defaultRuntime = info.DefaultRuntime ?? "runc";
      // Every connect probes: on a daemon without a GPU driver the refusal comes before any runtime starts (tens of
      // ms), so CPU-only nodes pay little; a daemon that accepts runs the probe up to its runtime (docs/docker.md).
      const gpu = await probeGpuSupport(client, {
        evidence: {
          runtimes,
          jobRuntime: runtime ?? defaultRuntime,
          cdiSpecDirs: info.CDISpecDirs ?? [],
          serverVersion: version.Version,
        },
        runtime,
        signal,
      });
      const capabilities: EngineCapabilities = {
        apiVersion: api,
        serverVersion: version.Version,
        runtimes,
        defaultRuntime,
        gpu,
        cpus: info.NCPU ?? 0,
        dataRoot: info.DockerRootDir ?? "",
      };
      const engine = new DockerEngine(client, capabilities, options);
      engine.#log.info("connected to Docker", {
        host: options.host,
        version: version.Version,
        api_version: api,
        runtimes,
        gpu_available: gpu.available,
        gpu_mechanism: gpu.mechanism,
        gpu_probe_ms: gpu.probeMs,
      });
      // Whether that matters depends on the host having GPUs: the agent says so (CPU-only nodes need none).
      if (!gpu.available) engine.#log.debug("dockerd does not accept GPU device requests", { message: gpu.message });
      return engine;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** Checks the image policy, then pulls the image when missing. Throws ImagePolicyError / ImagePullError. */
  ensureImage(
    image: string,
    options: Pick<EnsureImageOptions, "signal" | "onProgress"> & { jobId?: string } = {},
  ): Promise<ImageInfo> {
    const o = this.#options;
    return ensureImage(this.client, image, {
      policy: o.policy,
      auth: o.auth,
      totalTimeoutMs: o.pullTimeoutMs,
      inactivityTimeoutMs: o.pullInactivityTimeoutMs,
      progress: o.progress,
      logger: options.jobId ? this.#log.child({ job_id: options.jobId }) : this.#log,
      signal: options.signal,
      onProgress: options.onProgress,
    });
  }

  /**
   * Runs one job attempt in a hardened container and returns its outcome; never throws for job failures.
   * Invalid input is rejected before any API call. The container is removed on every outcome, except that a
   * duplicate create (same job id and attempt) throws {@linkcode ContainerExistsError} and leaves the other one alone.
   */
  async run(spec: Omit<JobContainerSpec, "agentAddress">, options: RunOptions = {}): Promise<ContainerOutcome> {
    try {
      // Every check before any API call (and before a sandbox is taken).
      buildContainer({ ...spec, agentAddress: this.agentAddress }, this.limits);
    } catch (error) {
      return classifyError(error);
    }
    const sandbox = await this.#sandboxes?.acquire(options.signal);
    let outcome = await this.#run(spec, sandbox, options);
    if (sandbox && outcome.startError !== undefined && sandboxFailed(outcome.startError, sandbox.id)) {
      // The holder was gone or stopped (someone removed it): this container goes, the holder too, and the job runs
      // in a namespace of its own.
      this.#log.warn("a network sandbox could not be joined; the job gets a namespace of its own", {
        job_id: spec.jobId,
        container: sandbox.id,
        error: outcome.startError as Error,
      });
      await outcome.removed;
      sandbox.release(true);
      outcome = await this.#run(spec, undefined, options);
    } else if (sandbox) {
      // Back to the pool only once no process of this job can be left in the namespace.
      const released: Promise<void> = (outcome.removed ?? Promise.resolve()).then(() => {
        sandbox.release();
        this.#releasing.delete(released);
      });
      this.#releasing.add(released);
    }
    return outcome;
  }

  async #run(
    spec: Omit<JobContainerSpec, "agentAddress">,
    sandbox: SandboxLease | undefined,
    options: RunOptions,
  ): Promise<ContainerOutcome> {
    const built = buildContainer(
      { ...spec, agentAddress: this.agentAddress, networkContainer: sandbox?.id },
      this.limits,
    );
    // What the job itself names may be quoted back to it; any other path in a daemon error is the host's.
    const paths = {
      containerPaths: [built.outputPath],
      jobPaths: (spec.command ?? []).filter((a) => a.startsWith("/")),
    };
    const log = this.#log.child({ job_id: spec.jobId, attempt: spec.attempt });
    let id: string;
    const t0 = performance.now();
    try {
      const created = await this.client.json<{ Id: string; Warnings?: string[] }>("POST", "/containers/create", {
        query: { name: built.name },
        body: built.body,
        signal: options.signal,
      });
      id = created.Id;
      options.times?.since("create", t0);
      for (const w of created.Warnings ?? []) log.warn("docker warning on create", { warning: w });
    } catch (error) {
      if (error instanceof DockerError && error.status === 409) {
        throw new ContainerExistsError(built.name, { cause: error });
      }
      if (options.signal?.aborted) {
        return { ok: false, reason: abortKind(options.signal), message: "job aborted before its container started" };
      }
      if (sandbox && sandboxFailed(error, sandbox.id)) {
        // Not created, nothing to remove: the caller retries without the holder.
        return { ok: false, reason: "internal_error", message: "network sandbox gone", startError: error };
      }
      // The status gets the message without host paths; the operator's log keeps the daemon's full words.
      log.warn("job container could not be created", { error: error as Error });
      return classifyError(error, paths);
    }
    log.info("job container created", {
      container: built.name,
      image: built.body.Image,
      timeout_ms: built.timeoutMs,
      network_sandbox: sandbox?.id.slice(0, 12),
    });
    const outcome = await superviseContainer(this.client, id, {
      timeoutMs: built.timeoutMs,
      stopGraceMs: this.limits.stopGraceMs,
      start: true,
      logMaxBytes: this.limits.logMaxBytes,
      tailBytes: this.limits.tailBytes,
      logger: log,
      onLine: options.onLine,
      statusPaths: paths,
      signal: options.signal,
      times: options.times,
      deferRemove: options.deferRemove,
    });
    outcome.containerName = built.name;
    log.info("job container ended", {
      container: built.name,
      ok: outcome.ok,
      reason: outcome.ok ? undefined : outcome.reason,
      exit_code: outcome.exitCode,
      duration_ms: outcome.durationMs,
    });
    return outcome;
  }

  /**
   * Starts the network sandboxes in the background (when configured and the job network is `none`): at most
   * `maxHolders`, the agent's concurrent jobs plus one. Jobs that start before they are ready get namespaces of
   * their own. Resolves whether they are usable.
   */
  startSandboxes(maxHolders: number, signal?: AbortSignal): Promise<boolean> {
    const image = this.#options.networkSandboxImage;
    if (!image || this.limits.network !== "none") return Promise.resolve(false);
    this.#sandboxes ??= new NetworkSandboxes(this.client, {
      image,
      agentAddress: this.agentAddress,
      maxHolders,
      logger: this.#log,
      pullTimeoutMs: this.#options.pullTimeoutMs,
      pullInactivityTimeoutMs: this.#options.pullInactivityTimeoutMs,
    });
    return this.#sandboxes.start(signal);
  }

  /** The network sandboxes, when started. */
  get sandboxes(): NetworkSandboxes | undefined {
    return this.#sandboxes;
  }

  /**
   * Removes the network sandboxes (at shutdown, once no job starts any more): the free ones, and those of jobs whose
   * containers are being removed, once they are gone.
   */
  async closeSandboxes(): Promise<void> {
    await Promise.all(this.#releasing);
    await this.#sandboxes?.close();
  }

  /** This agent's labelled containers (never anyone else's). */
  listJobContainers(): Promise<JobContainer[]> {
    return listJobContainers(this.client, this.agentAddress);
  }

  /**
   * Crash recovery: re-attaches to this job's container (latest attempt) and drives it to its end under its original
   * time limit. Undefined when no container exists, or when it was created but never started (it is removed).
   */
  async resume(jobId: string, options: RunOptions = {}): Promise<ContainerOutcome | undefined> {
    try {
      return await resumeJob(this.client, this.agentAddress, jobId, {
        limits: this.limits,
        logger: this.#log.child({ job_id: jobId }),
        onLine: options.onLine,
        signal: options.signal,
      });
    } finally {
      // The container is gone: the holder it joined, if any, is free for the pool again.
      await this.#sandboxes?.adopt().catch(() => {});
    }
  }

  /** Removes this agent's labelled containers whose job id is not in `known`; returns their names. */
  removeOrphans(known: Iterable<string>): Promise<string[]> {
    return removeOrphans(this.client, this.agentAddress, new Set(known), this.#log);
  }

  /** Releases the connection. */
  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
