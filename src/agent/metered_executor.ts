/** Counts every executed job in the metrics, whatever executor runs it. */
import type { ExecutionContext, Job, JobExecutor, JobOutcome } from "../job/mod.ts";
import type { AgentMetrics } from "./metrics.ts";

/** Wraps an executor: records each outcome (status, reason, duration) in {@linkcode AgentMetrics}. */
export class MeteredExecutor implements JobExecutor {
  #inner: JobExecutor;
  #metrics: AgentMetrics;

  constructor(inner: JobExecutor, metrics: AgentMetrics) {
    this.#inner = inner;
    this.#metrics = metrics;
  }

  async execute(job: Job, ctx: ExecutionContext): Promise<JobOutcome> {
    const t0 = performance.now();
    const outcome = await this.#inner.execute(job, ctx);
    this.#metrics.jobFinished(
      outcome.status,
      outcome.status === "failed" ? outcome.reason : undefined,
      (performance.now() - t0) / 1000,
    );
    return outcome;
  }
}
