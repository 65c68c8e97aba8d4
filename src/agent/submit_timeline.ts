/** What `submit` prints while it follows a job: one readable line per status, and the hints after an interrupt. */
import { formatBytes } from "../log/mod.ts";

/** One status message as received. */
export type Status = Record<string, unknown> & { job_id?: unknown; status?: unknown };

/** Processing stages in plain words. */
const STAGE_WORDS: Record<string, string> = {
  received: "received by the agent",
  validated: "accepted by the agent",
  fetching_input: "fetching the input",
  pulling_image: "pulling the image",
  running: "running",
  uploading: "uploading the output",
};

/** Bytes moved and expected, when a processing status carries transfer progress (`progress: {bytes, total_bytes}`). */
function transfer(s: Status): { bytes: number; total?: number; rate?: number } | undefined {
  const p = s.progress !== null && typeof s.progress === "object" ? s.progress as Record<string, unknown> : s;
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
  const bytes = num(p.bytes);
  if (bytes === undefined) return undefined;
  return { bytes, total: num(p.total_bytes) ?? num(p.total), rate: num(p.bytes_per_second) };
}

/** `12.0 MiB of 40.0 MiB (30%), 3.0 MiB/s`: the transfer part of a processing line. */
function movedText(t: { bytes: number; total?: number; rate?: number }): string {
  const of = t.total ? ` of ${formatBytes(t.total)} (${Math.min(100, Math.floor((t.bytes / t.total) * 100))}%)` : "";
  const rate = t.rate ? `, ${formatBytes(Math.round(t.rate))}/s` : "";
  return `${formatBytes(t.bytes)}${of}${rate}`;
}

/** One line of the printed timeline. */
export function timelineLine(s: Status): string {
  const time = typeof s.timestamp === "string" ? s.timestamp : new Date().toISOString();
  const status = String(s.status ?? "?").padEnd(10);
  if (s.status === "processing") {
    const stage = typeof s.stage === "string" ? s.stage : "";
    const words = STAGE_WORDS[stage] ?? stage;
    const t = transfer(s);
    const moved = t ? `: ${movedText(t)}` : "";
    return `${time}  ${status} ${words}${moved}`.trimEnd();
  }
  if (s.status === "completed") {
    const exit = typeof s.exit_code === "number" ? ` exit ${s.exit_code}` : "";
    return `${time}  ${status} output ${s.output_cid ?? ""}${exit}`;
  }
  const why = [s.reason, s.message].filter((v) => typeof v === "string" && v !== "").join(": ");
  return `${time}  ${status} ${why}`.trimEnd();
}

/** What an interrupted `submit` knows about the job it leaves behind. */
export interface LeftJob {
  jobId: string;
  agent: string;
  statusSubject: string;
  /** The job was signed (so a cancel must be signed too). */
  signed: boolean;
}

/** The lines printed when Ctrl-C stops the wait: the job keeps running, how to follow it and how to cancel it. */
export function interruptedLines(job: LeftJob): string[] {
  return [
    `Stopped waiting. Job ${job.jobId} keeps running on agent ${job.agent}.`,
    `  follow it:  lamda-node-agent follow ${job.jobId}   (statuses are published on ${job.statusSubject})`,
    `  cancel it:  lamda-node-agent cancel ${job.jobId} --agent ${job.agent}${job.signed ? " --sign" : ""}`,
  ];
}
