/**
 * The agent's lifecycle: start-up in order (config → GPUs → Docker → journal → chain → storage → NATS intake), serve
 * until SIGINT/SIGTERM, then drain within SHUTDOWN_TIMEOUT. Jobs an earlier process left unfinished are recovered
 * before intake starts; labelled containers the journal does not know are removed.
 */
import { join } from "node:path";
import { getAddress } from "ethers";
import {
  BusConnection,
  BusIntake,
  connectOptionsFromConfig,
  intakeOptionsFromConfig,
  JobLogPublisher,
  NatsStatusSink,
  Presence,
  presenceSubject,
} from "../bus/mod.ts";
import {
  type AgentWallet,
  ChainError,
  chainSettings,
  heartbeatsPaid,
  type HeartbeatTuning,
  KeyError,
  loadWallet,
  startNode,
} from "../chain/mod.ts";
import { type Config, ConfigError, formatDuration, type LoadedConfig, redactUrl } from "../config/mod.ts";
import {
  diskUsage,
  DockerEngine,
  dockerSpecChecks,
  engineOptionsFromConfig,
  ImageCache,
  type ImageGcPolicy,
  ImageStore,
} from "../docker/mod.ts";
import {
  detectGpus,
  GpuHealthMonitor,
  type GpuInventory,
  gpuOptionsFromConfig,
  type readGpuHealth,
  readHealthSnapshot,
  registrationSpec,
} from "../gpu/mod.ts";
import {
  JobJournal,
  JobRunner,
  runnerOptionsFromConfig,
  Scheduler,
  schedulerOptionsFromConfig,
  type StatusMessage,
} from "../job/mod.ts";
import { drawsProgress, type Logger } from "../log/mod.ts";
import { deniedAccess } from "../permissions/mod.ts";
import { logGatewayProbes, Storage } from "../storage/mod.ts";
import { VERSION } from "../version.ts";
import { PipelineExecutor } from "./executor.ts";
import { DrainControl } from "./drain.ts";
import { abortable, retryDelay, sleep } from "../timers.ts";
import { type HttpServer, type Readiness, startHttpServer } from "./http.ts";
import { AgentMetrics } from "./metrics.ts";
import type { NodeStatus } from "./node_status.ts";
import { collectNodeStatus, startingStatus } from "./node_status_source.ts";

/** Start-up failed in one component; the message names it and the fix. */
export class StartupError extends Error {
  override name = "StartupError";
  readonly component: string;
  constructor(component: string, message: string, options?: ErrorOptions) {
    super(`Cannot start (${component}): ${message}`, options);
    this.component = component;
  }
}

/** Options of {@linkcode runAgent}. */
export interface AgentOptions {
  loaded: LoadedConfig;
  logger: Logger;
  /** First SIGINT/SIGTERM: stop intake and drain. */
  signal: AbortSignal;
  /** Second signal: stop running jobs now (their containers are still removed). */
  force?: AbortSignal;
  /** Called once everything is up. */
  onReady?(agent: ReadyAgent): void;
  /** Test knobs. */
  tuning?: { heartbeat?: HeartbeatTuning; storage?: { fetchBackoffMs?: number } };
}

/** What a started agent exposes to its caller. */
export interface ReadyAgent {
  address: string;
  /** The bound HTTP address, when the endpoint is enabled. */
  httpAddr?: string;
  inventory: GpuInventory;
  recovered: string[];
  runner: JobRunner;
}

/**
 * Runs the agent until `signal` aborts and the drain is done. Throws {@linkcode StartupError} when it cannot start.
 * A signal during start-up ends the step in progress, undoes what started, and returns.
 */
export async function runAgent(options: AgentOptions): Promise<void> {
  const { config } = options.loaded;
  const signal = options.signal;
  await using stack = new AsyncDisposableStack();
  let log = options.logger.child({ component: "agent" });
  // What start-up is doing now, for /readyz and for the log line of a signal that interrupts it.
  let current = { component: "config", what: "checking the configuration", detail: "" };
  const starting = (): Readiness => ({
    startup: { ready: false, detail: current.what + (current.detail ? ` (${current.detail})` : "") },
  });
  let readiness: () => Readiness = starting;
  const startedAt = new Date();
  let nodeStatus: () => NodeStatus = () => startingStatus(startedAt, readiness(), current.what);
  const step = async <T>(component: string, what: string, fn: () => Promise<T>): Promise<T> => {
    if (signal.aborted) throw new StartupInterrupted(current.what);
    current = { component, what, detail: "" };
    log.info(`start-up: ${what}`, { step: component });
    try {
      return await abortable(fn(), signal);
    } catch (error) {
      if (signal.aborted) throw new StartupInterrupted(what);
      // Configuration, the node key and the permission sandbox are reported by the CLI with their fixes (exit 78).
      if (error instanceof ConfigError || error instanceof StartupError || error instanceof KeyError) throw error;
      if (deniedAccess(error)) throw error;
      throw new StartupError(component, (error as Error).message, { cause: error });
    }
  };
  // Steps that do not take the signal themselves (the chain's) are stopped through this one.
  const chainStop = new AbortController();
  const stopChainOnSignal = () => chainStop.abort(signal.reason);
  signal.addEventListener("abort", stopChainOnSignal, { once: true });

  try {
    // config: the key and the upload credentials are needed before anything else.
    if (!config.privateKey && !config.keystore) {
      throw new ConfigError([{
        variable: "AGENT_PRIVATE_KEY",
        message: "(or AGENT_KEYSTORE) is required to sign registration, heartbeats and receipts",
        example: "0x<64 hex digits>",
      }]);
    }
    if (!config.pinataJwt) {
      throw new ConfigError([{
        variable: "PINATA_JWT",
        message: "is required to upload job outputs",
        example: "eyJhbGciOi…",
      }]);
    }
    const metrics = new AgentMetrics();
    // The endpoint answers from the start: /healthz says the process lives, /readyz names the step it waits on.
    let http: HttpServer | undefined;
    if (config.httpAddr !== "") {
      http = await step(
        "http",
        `listening on ${config.httpAddr}`,
        () =>
          startHttpServer({
            addr: config.httpAddr,
            metrics,
            logger: log,
            readiness: () => readiness(),
            status: () => nodeStatus(),
          }),
      );
      stack.defer(() => http!.close());
    }

    const wallet: AgentWallet = await step(
      "config",
      "loading the node key",
      () => loadWallet(chainSettings(config).key, { logger: options.logger }),
    );
    const address = getAddress(wallet.address);
    const logger = options.logger.child({ address });
    log = logger.child({ component: "agent" });
    log.info(`node key loaded: ${address}`);

    const inventory = await step(
      "gpu",
      "detecting GPUs",
      () => detectGpus({ ...gpuOptionsFromConfig(config), signal, logger }),
    );
    const spec = registrationSpec(inventory);
    log.info("GPU inventory", {
      mode: inventory.mode,
      gpus: inventory.gpus.length,
      model: spec.gpuModel,
      vram: spec.vram,
    });

    const docker = await step(
      "docker",
      "connecting to Docker",
      () => DockerEngine.connect(engineOptionsFromConfig(config, address, logger)),
    );
    stack.defer(() => docker.close());
    if (inventory.mode !== "cpu-only" && !docker.capabilities.gpu.available) {
      log.error("GPU jobs will fail with gpu_unavailable", { reason: docker.capabilities.gpu.message });
    }

    const journal = await step("journal", `opening the job journal in ${config.dataDir}`, async () => {
      await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      return JobJournal.open(JobJournal.pathIn(config.dataDir));
    });
    stack.defer(() => journal.close());
    const images = await step("docker", "opening the image cache", async () => {
      const store = ImageStore.open(JobJournal.pathIn(config.dataDir));
      stack.defer(() => store.close());
      return new ImageCache({
        client: docker.client,
        store,
        ensure: (image, o) => docker.ensureImage(image, o),
        logger,
        gc: imageGcPolicyFromConfig(config),
        dataRoot: await readableDataRoot(config.dockerDataRoot ?? docker.capabilities.dataRoot, log),
        onRemoved: (r) => metrics.imageRemoved(r.reason, r.sizeBytes),
        onPull: (result) => metrics.imagePulls.inc({ result }),
      });
    });
    const unfinished = journal.listUnfinished().map((r) => r.jobId);
    const orphans = await step("docker", "removing orphaned job containers", () => docker.removeOrphans(unfinished));
    if (orphans.length) log.warn("Removed job containers the journal does not know", { containers: orphans });

    const storage = await step("storage", "preparing IPFS storage", async () => {
      const s = new Storage(config, logger, options.tuning?.storage);
      // Which gateways speak the trustless protocol, as a warning per one that does not; never delays start-up.
      void logGatewayProbes(s.gateways(), log, { signal, timeoutMs: config.ipfsRequestTimeout });
      const expired = await s.expireSpool();
      if (expired.length) log.warn("Expired spooled outputs removed", { jobs: expired });
      return s;
    });

    // NATS before the chain: heartbeats say the node takes work, so they start only once jobs can reach it.
    // Shown in /readyz too, which no logger redacts: credentials in the URLs are stripped here.
    const servers = config.natsServers.map(redactUrl).join(",");
    const bus = await step(
      "nats",
      `connecting to NATS ${servers}`,
      () =>
        BusConnection.connect(connectOptionsFromConfig(config), logger, signal, {
          onRetry: (attempt, error) => current.detail = `attempt ${attempt} failed: ${error.message}`,
        }),
    );
    stack.defer(() => bus.close());

    const node = await step(
      "chain",
      "registering on NodeReputation and sending the first heartbeat",
      async () => {
        // An RPC that does not answer may come back (like NATS above); a wrong chain or contract will not.
        for (let attempt = 1;; attempt++) {
          try {
            return await startNode(chainSettings(config), { gpuModel: spec.gpuModel, vram: BigInt(spec.vram) }, {
              logger,
              signal: chainStop.signal,
              wallet,
              tuning: options.tuning?.heartbeat,
            });
          } catch (error) {
            if (!(error instanceof ChainError && error.unreachable) || chainStop.signal.aborted) throw error;
            const delayMs = retryDelay(attempt - 1, 1000, 30_000);
            log.warn(`Chain not reachable; retrying in ${formatDuration(delayMs)}`, { attempt, error });
            current.detail = `attempt ${attempt} failed: ${error.message}`;
            await sleep(delayMs, chainStop.signal);
          }
        }
      },
    );
    stack.defer(async () => {
      chainStop.abort();
      await node[Symbol.asyncDispose]();
    });
    // From here on the heartbeats go on through the drain: the node stays online while it finishes its jobs.
    signal.removeEventListener("abort", stopChainOnSignal);

    const scheduler = new Scheduler(schedulerOptionsFromConfig(config, inventory));
    // The job network's holders, one per running job plus a spare, made in the background (docs/docker.md); removed
    // when the agent stops, after the jobs (deferred before them, so run after them).
    void docker.startSandboxes(scheduler.maxConcurrent + 1, signal);
    stack.defer(() => docker.closeSandboxes());
    let health: Awaited<ReturnType<typeof readGpuHealth>> = inventory.mode === "cpu-only"
      ? []
      // One reading per physical GPU (MIG instances share their GPU's).
      : [
        ...new Map(
          inventory.gpus.flatMap((g) => g.health ? [[g.uuid, { index: g.index, uuid: g.uuid, health: g.health }]] : []),
        ).values(),
      ];
    const executor = new PipelineExecutor({
      docker,
      images,
      storage,
      signer: wallet,
      agentAddress: address,
      jobsDir: join(config.dataDir, "jobs"),
      logger,
      metrics,
      // The driver's CUDA and driver versions, for images' NVIDIA_REQUIRE_* (cuda_unsupported before any container).
      driver: inventory,
      // Renters follow their job's output on jobs.logs.<job_id>, redacted like the log (docs/bus.md).
      liveLogs: config.jobLogStreamMaxBytes > 0
        ? new JobLogPublisher((subject, data) => bus.nc.publish(subject, data), {
          maxBytes: config.jobLogStreamMaxBytes,
          redact: (text) => logger.redactor.text(text),
          onError: (error) => log.debug("Live job output not published", { error: error as Error }),
        })
        : undefined,
      terminal: drawsProgress(config.logFormat)
        ? (text) => Deno.stderr.writeSync(new TextEncoder().encode(text))
        : undefined,
    });
    const runner = new JobRunner(
      {
        journal,
        scheduler,
        executor,
        sink: new NatsStatusSink(bus, { subject: config.statusSubject, jetstream: config.jobIntake === "jetstream" }),
        logger,
      },
      runnerOptionsFromConfig(config, address, dockerSpecChecks, {
        onTerminal: (status) => metrics.jobFinished(status.status, status.reason, seconds(status)),
      }),
    );
    // GPU health every GPU_HEALTH_INTERVAL: a GPU with a fatal reading is drained, a lost one stops its job.
    const gpuHealth = inventory.mode === "cpu-only" ? undefined : new GpuHealthMonitor({
      units: inventory.gpus.map((g) => ({ id: g.id, uuid: g.uuid })),
      read: async () => {
        const snapshot = await readHealthSnapshot(gpuOptionsFromConfig(config));
        health = snapshot.readings;
        return snapshot;
      },
      intervalMs: config.gpuHealthInterval,
      recoveryMs: config.gpuHealthRecovery,
      logger: logger.child({ component: "gpu" }),
      onChange: (units) => {
        const stopped = runner.gpuHealthChanged(
          units.filter((u) => !u.healthy).map((u) => u.id),
          units.filter((u) => u.lost).map((u) => u.id),
        );
        if (stopped.length) log.error("Jobs stopped: their GPU is lost", { jobs: stopped });
      },
    });
    const recovered = runner.recover();
    if (recovered.length) log.warn("Recovering jobs left unfinished by an earlier run", { jobs: recovered });
    runner.start();
    gpuHealth?.start();
    stack.defer(() => gpuHealth?.stop());
    // `drain` / `undrain` on this host, through DATA_DIR/control (a drain survives restarts).
    const drain = new DrainControl(
      config.dataDir,
      (on) => runner.setDraining(on),
      () => ({ running_jobs: runner.running, queued_jobs: runner.queued }),
    );
    await drain.start();
    stack.defer(() => drain.stop());
    let stopping = false;
    stack.defer(async () => {
      stopping = true;
      await runner.stop(0);
    });
    const intake = new BusIntake(
      bus,
      runner,
      logger,
      intakeOptionsFromConfig(config, address, scheduler.maxConcurrent + scheduler.queueSize + 16),
    );
    await step("nats", `starting ${config.jobIntake} job intake`, () => intake.start());
    stack.defer(() => intake.stop());
    // What each schedulable unit is (a whole GPU or a MIG instance), for the dispatcher (docs/bus.md).
    const gpuUnits = inventory.mode === "cpu-only" ? null : inventory.gpus.map((g) => ({
      id: g.id,
      name: g.name,
      memory_mib: g.memoryTotalMiB,
      uuid: g.uuid,
      index: g.index,
      mig: g.mig ? { parent: g.uuid, profile: g.mig.profile, memory_source: g.mig.memorySource } : null,
    }));
    const presence = new Presence(bus, logger, {
      subject: presenceSubject(address),
      intervalMs: config.presenceInterval,
      provide: () => ({
        agent_address: address,
        timestamp: new Date().toISOString(),
        version: VERSION,
        intake: config.jobIntake,
        ...runner.load(),
        draining: runner.draining,
        health: health ?? null,
        gpu_units: gpuUnits,
        gpu_health: gpuHealth?.units().map((u) => ({
          id: u.id,
          healthy: u.healthy,
          conditions: u.conditions.map((c) => c.code),
        })) ?? null,
      }),
    });
    presence.start();
    stack.defer(() => presence.stop());
    // Outputs that could not be uploaded wait in the spool until OUTPUT_SPOOL_TTL; expired ones go every hour.
    const spoolTimer = setInterval(() => {
      storage.expireSpool().then(
        (jobs) => jobs.length && log.warn("Expired spooled outputs removed", { jobs }),
        (error) => log.warn("Spool expiry failed", { error }),
      );
    }, 3_600_000);
    stack.defer(() => clearInterval(spoolTimer));
    // Images: checked against the watermarks and the cap now and every IMAGE_GC_INTERVAL (and after each job).
    const collectImages = (trigger: string) =>
      void images.collect(trigger).catch((error) => log.warn("Image collection failed", { error }));
    collectImages("start");
    const imageTimer = setInterval(() => collectImages("interval"), config.imageGcInterval);
    stack.defer(() => clearInterval(imageTimer));

    const heartbeat = node.heartbeat;
    metrics.observe({
      runningJobs: () => runner.running,
      freeSlots: () => runner.freeSlots,
      natsConnected: () => bus.connected,
      walletBalanceWei: () => heartbeat.state.balance,
      heartbeatsLeft: () => {
        const { balance, heartbeatCost } = heartbeat.state;
        return balance === undefined || !heartbeatCost ? undefined : heartbeatsPaid(balance, heartbeatCost);
      },
      heartbeats: () => ({ sent: heartbeat.state.sent, failures: heartbeat.state.failures }),
      lastHeartbeatAt: () => heartbeat.state.lastHeartbeatAt,
      imageCache: () => ({ bytes: images.cachedBytes(), images: images.cachedImages() }),
      dockerDiskUsedPercent: () => images.lastUsage?.usedPercent,
      gpus: () =>
        health.map((h) => ({
          uuid: h.uuid,
          temperatureC: h.health?.temperatureC ?? undefined,
          utilizationPct: h.health?.utilizationPercent ?? undefined,
        })),
      gpuHealth: () => gpuHealth?.units() ?? [],
    });

    readiness = () => ({
      docker: { ready: true },
      ...(gpuHealth ? { gpus: gpusReadiness(gpuHealth) } : {}),
      chain: { ready: heartbeat.state.lastHeartbeatAt !== undefined || heartbeat.state.txCount > 0 },
      nats: { ready: bus.connected, detail: bus.connected ? undefined : "disconnected; reconnecting" },
      intake: {
        ready: !stopping && !runner.draining,
        detail: stopping
          ? "shutting down"
          : runner.draining
          ? "draining: finishing held jobs, taking no new ones"
          : undefined,
      },
    });
    nodeStatus = () =>
      collectNodeStatus({
        startedAt,
        phase: () => (stopping ? "stopping" : runner.draining ? "draining" : "serving"),
        address,
        chainId: config.chainId ?? null,
        registered: true,
        heartbeat: () => heartbeat.state,
        nats: () => ({ connected: bus.connected, servers, intake: config.jobIntake }),
        slots: () => ({
          maxConcurrent: scheduler.maxConcurrent,
          running: runner.running,
          queued: runner.queued,
          free: runner.freeSlots,
        }),
        gpus: inventory.mode === "cpu-only" ? [] : inventory.gpus,
        readings: () => health,
        units: () => gpuHealth?.units(),
        activeJobs: () => runner.activeJobs(),
        record: (jobId) => journal.get(jobId),
        recent: (limit) => journal.recent(limit),
        readiness: () => readiness(),
      });
    log.info("agent ready", {
      version: VERSION,
      intake: config.jobIntake,
      max_concurrent: scheduler.maxConcurrent,
      gpus: scheduler.gpuUuids,
      http: http?.addr,
      recovered,
    });
    options.onReady?.({ address, httpAddr: http?.addr, inventory, recovered, runner });
    // In the background: the node takes jobs meanwhile (a job needing one of them joins its pull).
    const prepullStop = new AbortController();
    const prepull = config.imagePrepull?.length
      ? images.prepull(config.imagePrepull, AbortSignal.any([signal, prepullStop.signal]))
      : undefined;
    stack.defer(async () => {
      prepullStop.abort();
      await prepull;
    });

    await aborted(signal);
    stopping = true;
    log.info("shutting down: taking no new jobs, draining running ones", {
      running: runner.running,
      timeout: formatDuration(config.shutdownTimeout),
    });
    const onForce = () => {
      log.warn("second signal: stopping running jobs now");
      runner.hurry();
    };
    if (options.force?.aborted) onForce();
    else options.force?.addEventListener("abort", onForce, { once: true });
    presence.stop();
    await intake.stop();
    await runner.stop(config.shutdownTimeout);
    log.info("drained; closing connections", { unsent_statuses: runner.unsentStatuses });
  } catch (error) {
    if (!(error instanceof StartupInterrupted)) throw error;
    log.info(`start-up interrupted by a signal while ${error.step}; stopping`);
  } finally {
    signal.removeEventListener("abort", stopChainOnSignal);
  }
}

/** `/readyz`'s `gpus`: ready while at least one GPU takes jobs. */
function gpusReadiness(monitor: GpuHealthMonitor): { ready: boolean; detail?: string } {
  const units = monitor.units();
  const healthy = units.filter((u) => u.healthy).length;
  if (healthy > 0) {
    return { ready: true, detail: healthy < units.length ? `${units.length - healthy} GPU(s) drained` : undefined };
  }
  const why = [...new Set(units.flatMap((u) => u.conditions.filter((c) => c.severity === "fatal").map((c) => c.code)))];
  return { ready: false, detail: `every GPU is drained as unhealthy (${why.join(", ")})` };
}

/** The image GC settings of a config. */
export function imageGcPolicyFromConfig(config: Config): ImageGcPolicy {
  return {
    highPercent: config.imageGcHighPercent,
    lowPercent: config.imageGcLowPercent,
    maxBytes: config.imageCacheMaxBytes,
    minAgeMs: config.imageGcMinAge,
    keep: config.imageKeep ?? [],
  };
}

/**
 * Docker's data root when its filesystem usage can be read from here, else undefined with a warning: the watermarks
 * are then off (IMAGE_CACHE_MAX_BYTES still applies).
 */
async function readableDataRoot(path: string, log: Logger): Promise<string | undefined> {
  if (!path) {
    log.warn("Image watermarks are off: dockerd does not report its data root; set DOCKER_DATA_ROOT");
    return undefined;
  }
  try {
    const usage = await diskUsage(path);
    log.info("Docker's data root", { path, used_percent: Math.round(usage.usedPercent), free_bytes: usage.freeBytes });
    return path;
  } catch (error) {
    log.warn(
      `Image watermarks are off: cannot read the filesystem usage of Docker's data root ${path}; ` +
        "set DOCKER_DATA_ROOT to it (or a path on the same filesystem) and let the agent read it",
      { error: error as Error },
    );
    return undefined;
  }
}

/** A signal arrived during start-up: not a failure, the process stops as asked. */
class StartupInterrupted extends Error {
  override name = "StartupInterrupted";
  constructor(readonly step: string) {
    super(`start-up interrupted while ${step}`);
  }
}

/** A job's wall time from receipt to its terminal status, from the status's own timings. */
function seconds(status: StatusMessage): number {
  const from = Date.parse(status.timings?.received_at ?? "");
  const to = Date.parse(status.timings?.finished_at ?? status.timestamp);
  return Number.isFinite(from) && Number.isFinite(to) ? Math.max(0, (to - from) / 1000) : 0;
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
