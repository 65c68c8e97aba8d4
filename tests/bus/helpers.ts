/** Shared pieces of the bus integration tests: a fake executor, a status watcher and an agent harness. */
import { Wallet } from "ethers";
import { BusConnection, BusIntake, type IntakeJetStreamOptions, NatsStatusSink } from "../../src/bus/mod.ts";
import { dockerSpecChecks } from "../../src/docker/mod.ts";
import { JobJournal, JobRunner, type JobRunnerOptions, Scheduler } from "../../src/job/mod.ts";
import type { ExecutionContext, Job, JobExecutor, JobOutcome, StatusMessage } from "../../src/job/mod.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { ANVIL_KEYS } from "../support/anvil.ts";

/** The test agent's identity (anvil's public key 0). */
export const AGENT = new Wallet(ANVIL_KEYS[0]);
/** A dispatcher key allowed by signed-job tests, and one that is not. */
export const DISPATCHER = new Wallet(ANVIL_KEYS[1]);
export const STRANGER = new Wallet(ANVIL_KEYS[2]);
/** A well-formed CID the fake executor reports as output. */
export const OUTPUT_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

/** The agent's own abortable sleep, re-exported for the bus tests. */
import { sleep } from "../../src/timers.ts";
export { sleep };

/** Runs every job for `durationMs`, reporting the stages, then completes with {@linkcode OUTPUT_CID}. */
export class FakeExecutor implements JobExecutor {
  readonly calls: Job[] = [];
  constructor(public durationMs = 50) {}
  async execute(job: Job, ctx: ExecutionContext): Promise<JobOutcome> {
    this.calls.push(job);
    for (const stage of ["fetching_input", "pulling_image", "running", "uploading"] as const) {
      await ctx.progress(stage);
      try {
        await sleep(this.durationMs / 4, ctx.signal);
      } catch {
        return { status: "failed", reason: "cancelled", message: "stopped", exitCode: 137 };
      }
    }
    return { status: "completed", outputCid: OUTPUT_CID, exitCode: 0, extra: { gpus: ctx.gpuUuids } };
  }
}

/** The statuses of a job that ran through every stage to completion, as {@linkcode stageKeys} writes them. */
export const STAGED_COMPLETION = [
  "processing:validated",
  "processing:fetching_input",
  "processing:pulling_image",
  "processing:running",
  "processing:uploading",
  "completed",
];

/** `status` or `processing:<stage>` per status, in order. */
export function stageKeys(statuses: StatusMessage[]): string[] {
  return statuses.map((s) => s.stage ? `${s.status}:${s.stage}` : s.status);
}

/** Collects statuses from a core subscription on the status subject. */
export class StatusWatcher implements AsyncDisposable {
  readonly seen: StatusMessage[] = [];
  private constructor(readonly conn: BusConnection) {}

  static async start(servers: string[], subject = "agent.status"): Promise<StatusWatcher> {
    const conn = await BusConnection.connect({ servers, reconnectMaxWaitMs: 500 }, quietLogger());
    const w = new StatusWatcher(conn);
    conn.nc.subscribe(subject, { callback: (_e, m) => void w.seen.push(m.json<StatusMessage>()) });
    await conn.nc.flush();
    return w;
  }

  /** Statuses of one job. */
  of(jobId: string): StatusMessage[] {
    return this.seen.filter((s) => s.job_id === jobId);
  }

  /** Waits until `pred` holds for some status, returning it. */
  async waitFor(pred: (s: StatusMessage) => boolean, timeoutMs = 15_000): Promise<StatusMessage> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.seen.find(pred);
      if (hit) return hit;
      await sleep(20);
    }
    throw new Error(`No matching status within ${timeoutMs} ms; seen: ${JSON.stringify(this.seen).slice(0, 2000)}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.conn.close();
  }
}

/** A logger that keeps records in memory. */
export function quietLogger(): Logger {
  // BUS_TEST_LOG=1 prints the agent's log while debugging a test.
  if (Deno.env.get("BUS_TEST_LOG")) return new Logger({ level: "debug" });
  return new Logger({ level: "debug", writer: new MemoryWriter() });
}

/** One agent: connection, journal in a temp dir, scheduler, job runner and its NATS intake. */
export class TestAgent implements AsyncDisposable {
  private constructor(
    readonly conn: BusConnection,
    readonly journal: JobJournal,
    readonly runner: JobRunner,
    readonly intake: BusIntake,
    readonly dir: string,
    readonly ownsDir: boolean,
  ) {}

  static async start(opts: {
    servers: string[];
    executor: JobExecutor;
    intake?: "core" | "jetstream";
    jetstream?: Omit<IntakeJetStreamOptions, "maxAckPending">;
    runner?: Partial<JobRunnerOptions>;
    gpuUuids?: string[];
    maxConcurrent?: number;
    queueSize?: number;
    dataDir?: string;
    /** Recover the journal's unfinished jobs before intake starts, as the agent does. */
    recover?: boolean;
  }): Promise<TestAgent> {
    const dir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "lamda-bus-" });
    const conn = await BusConnection.connect({ servers: opts.servers, reconnectMaxWaitMs: 500 }, quietLogger());
    const journal = JobJournal.open(JobJournal.pathIn(dir));
    const scheduler = new Scheduler({
      gpuUuids: opts.gpuUuids ?? [],
      maxConcurrent: opts.maxConcurrent,
      queueSize: opts.queueSize,
    });
    const mode = opts.intake ?? "core";
    const logger = quietLogger();
    const runner = new JobRunner(
      {
        journal,
        scheduler,
        executor: opts.executor,
        sink: new NatsStatusSink(conn, { subject: "agent.status", jetstream: mode === "jetstream" }),
        logger,
      },
      {
        agentAddress: AGENT.address,
        checks: dockerSpecChecks,
        workingIntervalMs: mode === "jetstream" ? Math.floor((opts.jetstream?.ackWaitMs ?? 2000) / 3) : 0,
        ...opts.runner,
      },
    );
    const intake = new BusIntake(conn, runner, logger, {
      agentAddress: AGENT.address,
      mode,
      statusSubject: "agent.status",
      jetstream: opts.jetstream
        ? { ...opts.jetstream, maxAckPending: scheduler.maxConcurrent + scheduler.queueSize + 16 }
        : undefined,
    });
    try {
      if (opts.recover) runner.recover();
      runner.start();
      await intake.start();
    } catch (error) {
      await runner.stop(0);
      journal.close();
      await conn.close();
      throw error;
    }
    return new TestAgent(conn, journal, runner, intake, dir, opts.dataDir === undefined);
  }

  /** Stops intake, then drains the runner within `deadlineMs`, as the agent does on SIGTERM. */
  async stop(deadlineMs = 2000): Promise<void> {
    await this.intake.stop();
    await this.runner.stop(deadlineMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop();
    } finally {
      this.journal.close();
      await this.conn.close();
      if (this.ownsDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** JetStream options for tests: small AckWait so progress acks matter, streams created. */
export const TEST_JS = {
  jobStream: "LAMDA_JOBS",
  statusStream: "LAMDA_STATUS",
  createStreams: true,
  ackWaitMs: 2000,
  maxDeliver: 5,
  pullExpiresMs: 1000,
};

/** The subject dispatchers publish this agent's jobs on. */
export const DISPATCH = `jobs.dispatch.${AGENT.address}`;

/** Encodes a value as a JSON message body. */
export function body(v: unknown): Uint8Array {
  return new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
}
