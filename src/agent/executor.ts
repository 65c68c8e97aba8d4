/**
 * The job pipeline the agent runs for each attempt: fetch the input (verified, or from the input cache) while the image
 * is pulled → run the hardened container with the assigned GPUs → upload the output (verified CID) → a signed receipt.
 * Also finishes an attempt an earlier process left unfinished (`ctx.resume`, decided by src/job/resume.ts): re-attach
 * to its container, or upload the output it left.
 */
import type { Signer } from "ethers";
import type { JobLogStream } from "../bus/mod.ts";
import {
  checkCudaRequirement,
  classifyError,
  containerEnv,
  type ContainerOutcome,
  createJobDirs,
  CudaUnsupportedError,
  type DockerEngine,
  type DriverFacts,
  type ImageCache,
  type ImageInfo,
  type ImageLease,
  type JobDirs,
  removeJobDirs,
} from "../docker/mod.ts";
import type { ExecutionContext, Job, JobExecutor, JobOutcome, TransferStage } from "../job/mod.ts";
import {
  fanOutSink,
  type Logger,
  logProgressSink,
  type ProgressSink,
  terminalProgressSink,
  throttledSink,
} from "../log/mod.ts";
import { timed } from "../timing.ts";
import {
  type InputLease,
  type Storage,
  StorageError,
  type TransferOptions,
  type UploadResult,
} from "../storage/mod.ts";
import type { AgentMetrics, TransferKind } from "./metrics.ts";
import { signReceipt } from "./receipt.ts";

/** What the pipeline needs; each piece has one real implementation, built in the composition root. */
export interface PipelineDeps {
  docker: Pick<DockerEngine, "run" | "resume">;
  /** Images: one pull per image, held while a job uses it, collected after each job. */
  images: Pick<ImageCache, "acquire" | "collect">;
  storage: Pick<
    Storage,
    | "acquireInput"
    | "holdInput"
    | "inputCache"
    | "uploadOutput"
    | "resumeUpload"
    | "listSpooledOutputs"
    | "removeSpooled"
  >;
  /** Signs receipts: the node key. */
  signer: Signer;
  agentAddress: string;
  /** Where per-job directories live (`DATA_DIR/jobs`). */
  jobsDir: string;
  logger: Logger;
  metrics?: AgentMetrics;
  /** Least time between two progress lines of a download or upload in the log; default 5 s. */
  progressIntervalMs?: number;
  /** A rewritten progress line on this terminal (stderr) for downloads and uploads, besides the log lines. */
  terminal?: (text: string) => void;
  /** Live job output (`jobs.logs.<job_id>`): one stream per attempt, closed when its container ended. */
  liveLogs?: { open(jobId: string, attempt: number): Pick<JobLogStream, "line" | "close"> };
  /**
   * The node's NVIDIA driver (the GPU inventory): a GPU job whose image requires a newer CUDA than it supports fails
   * `cuda_unsupported` before its container is created. Absent or with an unknown CUDA version, nothing is refused.
   */
  driver?: DriverFacts;
}

/** Ids the scheduler hands out in CPU-only mode; they are never sent to Docker as GPU ids. */
export function isPseudoGpu(id: string): boolean {
  return id.startsWith("cpu-");
}

/** Runs jobs through Docker and IPFS. */
export class PipelineExecutor implements JobExecutor {
  #deps: PipelineDeps;

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
    deps.metrics?.observe({ inputCacheBytes: () => deps.storage.inputCache.bytes() });
  }

  /** Runs (or finishes) one attempt; never throws for a job's own failure. */
  async execute(job: Job, ctx: ExecutionContext): Promise<JobOutcome> {
    const { docker, storage, jobsDir, metrics } = this.#deps;
    const log = this.#deps.logger.child({ component: "pipeline", job_id: job.jobId, attempt: ctx.attempt });
    const signal = ctx.signal;
    const startedAt = new Date();
    let dirs: JobDirs | undefined;
    let lease: InputLease | undefined;
    let imageLease: ImageLease | undefined;
    // Before the first await: a re-attached container may mount a cache entry, which no other job may evict meanwhile.
    const held = ctx.resume === "reattach" && job.inputFileCid ? storage.holdInput(job.inputFileCid) : undefined;
    const live = ctx.resume === "upload" ? undefined : this.#deps.liveLogs?.open(job.jobId, ctx.attempt);
    let run: ContainerOutcome | undefined;
    try {
      dirs = await timed(
        ctx.times,
        "dirs",
        () => createJobDirs(jobsDir, job.jobId, ctx.attempt, { fresh: ctx.resume === undefined }),
      );
      if (ctx.resume === "upload") {
        log.info("Resuming the upload of an output left by an earlier run");
        const upload = await this.#resumeUpload(job, dirs.output, ctx, log);
        if (!upload) return agentRestart("the output of the finished container was not found after the restart");
        return await this.#completed(job, ctx, upload, undefined, startedAt);
      }
      let image: ImageInfo | undefined;
      if (ctx.resume === "reattach") {
        run = await docker.resume(job.jobId, { signal, onLine: live?.line.bind(live) });
        if (!run) return agentRestart("the job's container was gone after the agent restarted");
        log.info("Re-attached to the job's container after a restart", { ok: run.ok });
      } else {
        ({ imageLease, lease } = await timed(ctx.times, "prepare", () => this.#prepare(job, dirs!.input, ctx, log)));
        image = imageLease.info;
        await ctx.progress("running");
        run = await docker.run({
          jobId: job.jobId,
          attempt: ctx.attempt,
          image: job.imageName,
          command: job.command,
          env: job.env,
          gpuIds: ctx.gpuUuids.filter((id) => !isPseudoGpu(id)),
          inputDir: lease?.dir,
          outputDir: dirs.output,
          outputPath: job.outputPath,
          resources: job.resources,
          timeoutSeconds: job.timeoutSeconds,
        }, { signal, onLine: live?.line.bind(live), times: ctx.times, deferRemove: true });
      }
      // Whatever the outcome: the container's output is all there is.
      live?.close();
      if (!run.ok) {
        return {
          status: "failed",
          reason: run.reason,
          message: run.message,
          exitCode: run.exitCode,
          extra: { container: run.containerName, duration_ms: run.durationMs },
        };
      }
      await ctx.progress("uploading");
      const t0 = performance.now();
      const upload = await timed(ctx.times, "upload", () =>
        storage.uploadOutput(dirs!.output, {
          jobId: job.jobId,
          agentAddress: this.#deps.agentAddress,
          signal,
          ...this.#transfer("upload", log, ctx),
        }));
      metrics?.transferTime("upload", (performance.now() - t0) / 1000);
      return await this.#completed(job, ctx, upload, image, startedAt, run.durationMs);
    } catch (error) {
      const failure = failureFrom(error);
      log.warn("Job failed", { reason: failure.reason, error: error as Error });
      return failure;
    } finally {
      live?.close();
      // The removal overlapped the upload; once the container is gone the cache entry may be evicted again.
      await run?.removed;
      lease?.release();
      held?.();
      imageLease?.release();
      // Images unused now may go (watermarks, cap); never delays the job's status.
      void this.#deps.images.collect("job").catch((error) => log.warn("Image collection failed", { error }));
      if (dirs) {
        const t0 = performance.now();
        await removeJobDirs(dirs).catch((error) => log.warn("Cannot remove job directories", { error }));
        ctx.times?.since("cleanup", t0);
      }
    }
  }

  /**
   * The input and the image at the same time: both stages are journaled before either starts (so a restart in either
   * runs the attempt again from the start), the job goes on once both are ready, and the first failure cancels the
   * other and is the job's.
   */
  async #prepare(
    job: Job,
    inputDir: string,
    ctx: ExecutionContext,
    log: Logger,
  ): Promise<{ imageLease: ImageLease; lease?: InputLease }> {
    const cid = job.inputFileCid;
    // Both stages start now: one journal write announces both.
    if (cid) await ctx.progress("fetching_input", "pulling_image");
    else await ctx.progress("pulling_image");
    const stop = new AbortController();
    const signal = AbortSignal.any([ctx.signal, stop.signal]);
    let failed: { error: unknown } | undefined;
    const failFirst = (error: unknown): never => {
      if (!failed) {
        failed = { error };
        stop.abort(error);
      }
      throw error;
    };
    const input = cid
      ? timed(ctx.times, "input", () => this.#input(cid, inputDir, signal, log, ctx)).catch(failFirst)
      : Promise.resolve(undefined);
    const pull = (async () => {
      const t0 = performance.now();
      const imageLease = await timed(ctx.times, "image", () =>
        this.#deps.images.acquire(job.imageName, {
          signal,
          jobId: job.jobId,
          onProgress: ctx.transfer && ((p) => {
            const seconds = (performance.now() - t0) / 1000;
            ctx.transfer!("pulling_image", {
              bytes: p.downloadedBytes,
              total: p.totalBytes || undefined,
              bytesPerSecond: seconds > 0 ? p.downloadedBytes / seconds : 0,
              done: false,
            });
          }),
        }));
      ctx.transfer?.("pulling_image", { bytes: 0, bytesPerSecond: 0, done: true });
      try {
        // As soon as the image is known: a job its driver cannot run stops its input download too.
        this.#checkCuda(job, ctx, imageLease.info, log);
      } catch (error) {
        imageLease.release();
        throw error;
      }
      return imageLease;
    })().catch(failFirst);
    // Both settle before the job goes on or fails: nothing keeps writing into a directory about to be removed.
    const [lease, image] = await Promise.allSettled([input, pull]);
    if (failed || lease.status === "rejected" || image.status === "rejected") {
      if (lease.status === "fulfilled") lease.value?.release();
      if (image.status === "fulfilled") image.value.release();
      throw failed
        ? failed.error
        : lease.status === "rejected"
        ? lease.reason
        : (image as PromiseRejectedResult).reason;
    }
    return { imageLease: image.value, lease: lease.value };
  }

  /**
   * Throws {@linkcode CudaUnsupportedError} when the job has real GPUs and the image's CUDA requirement is one the
   * node's driver does not meet (the check NVIDIA's hook would make at container start, src/docker/cuda_requirement.ts).
   */
  #checkCuda(job: Job, ctx: ExecutionContext, image: ImageInfo, log: Logger): void {
    if (!ctx.gpuUuids.some((id) => !isPseudoGpu(id))) return; // no GPU, no NVIDIA hook, no requirement
    const check = checkCudaRequirement(job.imageName, containerEnv(image.env, job.env), this.#deps.driver);
    if (check.kind === "unsupported") throw new CudaUnsupportedError(job.imageName, check.message);
    if (check.kind === "unchecked") {
      log.warn("The image's CUDA requirement is not checked before the container starts; Docker's NVIDIA hook will", {
        image: job.imageName,
        reason: check.reason,
        requirements: check.requirements.map((r) => `${r.source}=${r.expression}`),
      });
    } else if (check.kind === "satisfied") {
      log.debug("The image's CUDA requirement is met", {
        image: job.imageName,
        cuda: this.#deps.driver?.cudaVersion,
        driver: this.#deps.driver?.driverVersion,
      });
    }
  }

  /** The job's input from the cache, another job's fetch of the same CID, or a fetch of its own. */
  async #input(
    cid: string,
    jobInputDir: string,
    signal: AbortSignal,
    log: Logger,
    ctx: ExecutionContext,
  ): Promise<InputLease> {
    const { storage, metrics } = this.#deps;
    const t0 = performance.now();
    const lease = await storage.acquireInput(cid, jobInputDir, {
      signal,
      logger: log,
      label: "input",
      ...this.#transfer("download", log, ctx),
    });
    if (lease.source === "fetched" || lease.source === "direct") {
      metrics?.transferTime("download", (performance.now() - t0) / 1000);
    }
    if (lease.source !== "direct") metrics?.inputCacheLookup(lease.source !== "fetched");
    if (lease.source === "cache" || lease.source === "shared") {
      log.info("Input served from the input cache", { cid, source: lease.source, bytes: lease.bytes });
    }
    return lease;
  }

  /** Drops what a finished job kept for a retry: its spooled output. */
  async cleanup(jobId: string): Promise<void> {
    await this.#deps.storage.removeSpooled(jobId);
  }

  /**
   * Progress of a download or upload: to the runner (statuses, the status page), a log line every few seconds, a
   * rewritten line on a terminal, and the bytes counted in `lamda_transfer_bytes_total` as they move (so the end of
   * the transfer adds only its time).
   */
  #transfer(kind: TransferKind, log: Logger, ctx: ExecutionContext): TransferOptions {
    const logEvery = this.#deps.progressIntervalMs ?? 5000;
    const stage: TransferStage = kind === "upload" ? "uploading" : "fetching_input";
    const terminal = this.#deps.terminal;
    const toRunner: ProgressSink | undefined = ctx.transfer &&
      ((r) => ctx.transfer!(stage, { bytes: r.bytes, total: r.total, bytesPerSecond: r.bytesPerSecond, done: r.done }));
    return {
      progress: fanOutSink(
        toRunner,
        throttledSink(logProgressSink(log), logEvery),
        terminal && terminalProgressSink(terminal),
      ),
      progressIntervalMs: Math.min(logEvery, terminal ? 250 : 1000),
      onBytes: this.#deps.metrics?.bytesMoved(kind),
    };
  }

  /** The spooled output if an earlier run moved it there, else the output directory it left behind. */
  async #resumeUpload(
    job: Job,
    outputDir: string,
    ctx: ExecutionContext,
    log: Logger,
  ): Promise<UploadResult | undefined> {
    const { storage, agentAddress, metrics } = this.#deps;
    const signal = ctx.signal;
    const t0 = performance.now();
    const transfer = this.#transfer("upload", log, ctx);
    const spooled = (await storage.listSpooledOutputs()).some((s) => s.jobId === job.jobId);
    const left = !spooled && await Deno.stat(outputDir).then((s) => s.isDirectory, () => false);
    if (!spooled && !left) return undefined;
    const upload = spooled
      ? await storage.resumeUpload(job.jobId, { signal, ...transfer })
      : await storage.uploadOutput(outputDir, { jobId: job.jobId, agentAddress, signal, ...transfer });
    metrics?.transferTime("upload", (performance.now() - t0) / 1000);
    return upload;
  }

  async #completed(
    job: Job,
    ctx: ExecutionContext,
    upload: UploadResult,
    image: ImageInfo | undefined,
    startedAt: Date,
    runMs?: number,
  ): Promise<JobOutcome> {
    const t0 = performance.now();
    const receipt = await signReceipt({
      job_id: job.jobId,
      output_cid: upload.cid,
      image_digest: image?.repoDigests[0] ?? image?.id ?? "",
      exit_code: 0,
      gpu_uuids: ctx.gpuUuids.filter((id) => !isPseudoGpu(id)),
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
    }, this.#deps.signer);
    ctx.times?.since("receipt", t0);
    return {
      status: "completed",
      outputCid: upload.cid,
      exitCode: 0,
      extra: { receipt, output_bytes: upload.bytes, output_files: upload.files, run_ms: runMs },
    };
  }
}

function agentRestart(message: string): JobOutcome {
  return { status: "failed", reason: "agent_restart", message: `The agent restarted mid-job: ${message}` };
}

/** The one mapping from a pipeline error to a failure reason (docs/wire-contract.md §5). */
export function failureFrom(error: unknown): JobOutcome & { status: "failed" } {
  if (error instanceof StorageError) return { status: "failed", reason: error.reason, message: error.message };
  const c = classifyError(error);
  return { status: "failed", reason: c.reason, message: c.message, exitCode: c.exitCode };
}
