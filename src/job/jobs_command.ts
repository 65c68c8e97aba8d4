/**
 * `jobs` and `jobs show <job_id>`: the node's recent jobs and one job's timeline, read from the job journal in
 * DATA_DIR (read-only, so it works beside the running agent).
 */
import type { Command } from "../command.ts";
import { JournalError } from "./errors.ts";
import { JobJournal, type JobRecord } from "./journal.ts";
import { JOB_ID_PATTERN } from "./schema.ts";

/** Exit codes of `jobs`. */
export const JOBS_EXIT = { ok: 0, notFound: 1, usage: 2 } as const;

/** `lamda-node-agent jobs [--limit N] [--json]`, `jobs show <job_id> [--json]`. */
export const jobsCommand: Command = {
  name: "jobs",
  summary: "list this node's recent jobs, or show one job's timeline (jobs show <job_id>)",
  description: "Reads the job journal in DATA_DIR (works while the agent runs). `jobs` lists the most recent jobs: " +
    "id, state, reason, time queued, run time, total time and output CID. `jobs show <job_id>` prints one job: its " +
    "image, GPUs, attempts and deliveries, and every status it published, in order.\n" +
    "Exit 0, 1 when the job is not in the journal (or there is no journal), 2 on a usage error.",
  positionals: [
    { name: "show", description: "`show` to print one job", optional: true },
    { name: "job_id", description: "the job to show", optional: true },
  ],
  options: {
    limit: { type: "string", placeholder: "N", description: "how many jobs to list (default 20)" },
    json: { type: "boolean", description: "print JSON instead of a table" },
  },
  run(ctx) {
    const usage = (message: string) => {
      ctx.logger.error(`jobs: ${message} (see jobs --help)`);
      return Promise.resolve(JOBS_EXIT.usage);
    };
    const [verb, jobId] = ctx.args;
    if (verb !== undefined && verb !== "show") {
      return usage(`unknown argument ${JSON.stringify(verb)}; did you mean show?`);
    }
    if (verb === "show" && (jobId === undefined || !JOB_ID_PATTERN.test(jobId))) {
      return usage("give the job id: jobs show <job_id>");
    }
    const limitText = ctx.options.limit;
    const limit = typeof limitText === "string" ? Number(limitText) : 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return usage("--limit must be 1-10000");
    let journal: JobJournal;
    try {
      journal = JobJournal.openReadOnly(JobJournal.pathIn(ctx.loaded.config.dataDir));
    } catch (error) {
      if (!(error instanceof JournalError)) throw error;
      ctx.logger.error(error.message);
      return Promise.resolve(JOBS_EXIT.notFound);
    }
    try {
      const json = ctx.options.json === true;
      if (verb === "show") {
        const rec = journal.get(jobId!);
        if (!rec) {
          ctx.logger.error(`jobs: job ${jobId} is not in the journal (it may have been pruned: JOURNAL_RETENTION)`);
          return Promise.resolve(JOBS_EXIT.notFound);
        }
        const timeline = journal.statusesOf(jobId!).map((s) => s.payload as unknown as Record<string, unknown>);
        if (json) ctx.print(JSON.stringify({ ...recordJson(rec), timeline }, null, 2));
        else for (const line of showLines(rec, timeline)) ctx.print(line);
        return Promise.resolve(JOBS_EXIT.ok);
      }
      const records = journal.recent(limit);
      if (json) ctx.print(JSON.stringify(records.map(recordJson), null, 2));
      else for (const line of listLines(records)) ctx.print(line);
      return Promise.resolve(JOBS_EXIT.ok);
    } finally {
      journal.close();
    }
  },
};

/** One job as `jobs --json` prints it. */
function recordJson(r: JobRecord): Record<string, unknown> {
  return {
    job_id: r.jobId,
    state: r.state,
    reason: r.reason ?? null,
    message: r.message ?? null,
    exit_code: r.exitCode ?? null,
    output_cid: r.outputCid ?? null,
    attempt: r.attempt,
    deliveries: r.deliveries,
    image: r.job?.imageName ?? null,
    gpus: r.gpuUuids,
    received_at: iso(r.receivedAt),
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    queued_ms: r.startedAt === undefined ? null : r.startedAt - r.receivedAt,
    run_ms: r.startedAt === undefined || r.finishedAt === undefined ? null : r.finishedAt - r.startedAt,
    total_ms: r.finishedAt === undefined ? null : r.finishedAt - r.receivedAt,
  };
}

/** The table `jobs` prints, newest first. */
export function listLines(records: JobRecord[]): string[] {
  if (records.length === 0) return ["no jobs in the journal yet"];
  const rows = records.map((r) => [
    r.jobId,
    r.state,
    r.reason ?? "",
    new Date(r.receivedAt).toISOString().replace(/\.\d+Z$/, "Z"),
    seconds(r.startedAt === undefined ? undefined : r.startedAt - r.receivedAt),
    seconds(r.startedAt === undefined || r.finishedAt === undefined ? undefined : r.finishedAt - r.startedAt),
    seconds(r.finishedAt === undefined ? undefined : r.finishedAt - r.receivedAt),
    r.outputCid ?? "",
  ]);
  const header = ["JOB", "STATE", "REASON", "RECEIVED", "QUEUED", "RUN", "TOTAL", "OUTPUT"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

/** What `jobs show` prints. */
export function showLines(r: JobRecord, timeline: Record<string, unknown>[]): string[] {
  const out = [
    `job ${r.jobId}: ${r.state}${r.reason ? ` (${r.reason})` : ""}`,
    ...(r.message ? [`  message: ${r.message}`] : []),
    ...(r.outputCid ? [`  output: ${r.outputCid}`] : []),
    ...(r.exitCode !== undefined ? [`  exit code: ${r.exitCode}`] : []),
    `  image: ${r.job?.imageName ?? "(not parsed)"}`,
    `  gpus: ${r.gpuUuids.length ? r.gpuUuids.join(", ") : "none"}`,
    `  attempts: ${r.attempt}, deliveries: ${r.deliveries}`,
    `  received ${iso(r.receivedAt)}` + (r.startedAt ? `, started ${iso(r.startedAt)}` : "") +
    (r.finishedAt ? `, finished ${iso(r.finishedAt)}` : ""),
    "timeline:",
  ];
  if (timeline.length === 0) out.push("  (no status kept: pruned, or none published)");
  for (const s of timeline) {
    const detail = [s.stage, s.reason, s.output_cid].filter((x) => typeof x === "string" && x !== "").join(" ");
    out.push(`  ${s.timestamp} ${s.status}${detail ? ` ${detail}` : ""}${s.message ? `: ${s.message}` : ""}`);
  }
  return out;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? "" : `${(ms / 1000).toFixed(1)}s`;
}
