/**
 * `submit`: uploads an input through the Pinata API, publishes a job on `jobs.dispatch.<agent>` (signed with the
 * configured key when asked), follows `agent.status` for it and, once completed, fetches the verified output.
 */
import { getAddress, isAddress } from "ethers";
import { connectClient, connectOptionsFromConfig, type NatsConnection } from "../bus/mod.ts";
import { chainSettings, loadWallet } from "../chain/mod.ts";
import type { Command, CommandContext } from "../cli/command.ts";
import { type Config, formatDuration, parseDuration } from "../config/mod.ts";
import { signJob } from "../job/mod.ts";
import { Storage } from "../storage/mod.ts";
import { oneLine } from "./doctor_report.ts";
import { uploadInput } from "./submit_upload.ts";

/** Exit codes of `submit`. */
export const SUBMIT_EXIT = { completed: 0, failed: 1, usage: 2 } as const;

/** Default time `submit` waits for a terminal status. */
export const DEFAULT_SUBMIT_TIMEOUT_MS = 30 * 60_000;

/** One status message as received. */
type Status = Record<string, unknown> & { job_id?: unknown; status?: unknown };

/** What `submit --json` prints. */
export interface SubmitResult {
  job_id: string;
  agent: string;
  input_cid?: string;
  status: "completed" | "failed" | "timeout";
  reason?: string;
  message?: string;
  exit_code?: number;
  output_cid?: string;
  output_dir?: string;
  timeline: Status[];
}

class Usage extends Error {}

/** The job fields and settings from the command line. Throws {@linkcode Usage} when they are wrong. */
function parseOptions(ctx: CommandContext) {
  const o = ctx.options;
  if (ctx.args.length) throw new Usage(`unexpected argument ${JSON.stringify(ctx.args[0])}`);
  const image = o.image;
  if (typeof image !== "string" || image === "") throw new Usage("--image IMAGE is required");
  let command: string[] | undefined;
  if (typeof o.command === "string") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(o.command);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === "string")) {
      throw new Usage(`--command must be a JSON array of strings, e.g. '["sh","-c","echo hi"]'`);
    }
    command = parsed;
  }
  const timeoutMs = typeof o.timeout === "string" ? parseDuration(o.timeout) : DEFAULT_SUBMIT_TIMEOUT_MS;
  if (timeoutMs === undefined || timeoutMs <= 0) throw new Usage(`--timeout must be a duration like 90s or 10m`);
  if (typeof o.agent === "string" && !isAddress(o.agent)) throw new Usage(`--agent must be a 0x address`);
  const jobId = typeof o["job-id"] === "string" ? o["job-id"] : `submit-${crypto.randomUUID()}`;
  return {
    image,
    command,
    timeoutMs,
    jobId,
    agent: typeof o.agent === "string" ? getAddress(o.agent) : undefined,
    input: typeof o.input === "string" ? o.input : undefined,
    outputDir: typeof o["output-dir"] === "string" ? o["output-dir"] : undefined,
    sign: o.sign === true,
    json: o.json === true,
  };
}

/** `submit --image IMG [--input PATH] [--command JSON] [--output-dir DIR] [--agent ADDR] …`. */
export const submitCommand: Command = {
  name: "submit",
  summary: "upload an input, dispatch a job to an agent, follow its statuses and fetch its output",
  description: "The input (a file, seen as /input/input, or a directory) is uploaded through PINATA_API_URL with " +
    "PINATA_JWT; the output is fetched and verified through IPFS_GATEWAYS. --agent defaults to the configured key's " +
    "address; --sign signs the job with that key (the agent must list it in JOB_SIGNERS). --timeout bounds the wait " +
    `for a final status (default ${formatDuration(DEFAULT_SUBMIT_TIMEOUT_MS)}).\n` +
    "Exit 0 when the job completed, 1 when it failed (or no final status came in time), 2 on a usage error.",
  options: {
    image: { type: "string", placeholder: "IMAGE", description: "the job's Docker image (required)" },
    input: { type: "string", placeholder: "PATH", description: "a file or directory to upload as the input" },
    command: { type: "string", placeholder: "JSON", description: `the command, as a JSON array: '["sh","-c","…"]'` },
    "output-dir": { type: "string", placeholder: "DIR", description: "fetch the output into this directory" },
    agent: { type: "string", placeholder: "ADDRESS", description: "the agent to dispatch to" },
    "job-id": { type: "string", placeholder: "ID", description: "the job id (default: submit-<uuid>)" },
    timeout: { type: "string", placeholder: "DURATION", description: "how long to wait for the result" },
    sign: { type: "boolean", description: "sign the job with the configured key" },
    json: { type: "boolean", description: "print one JSON result instead of the timeline" },
  },
  usesKey: true,
  async run(ctx) {
    let opts;
    try {
      opts = parseOptions(ctx);
    } catch (error) {
      if (!(error instanceof Usage)) throw error;
      ctx.logger.error(`submit: ${error.message} (see submit --help)`);
      return SUBMIT_EXIT.usage;
    }
    const { config } = ctx.loaded;
    const wallet = opts.sign || !opts.agent
      ? await loadWallet(chainSettings(config).key, { logger: ctx.logger }).catch((error) => {
        if (!config.privateKey && !config.keystore) return undefined;
        throw error;
      })
      : undefined;
    const agent = opts.agent ?? (wallet ? getAddress(wallet.address) : undefined);
    if (!agent || (opts.sign && !wallet)) {
      ctx.logger.error(
        `submit: ${opts.sign ? "--sign needs AGENT_PRIVATE_KEY (or AGENT_KEYSTORE)" : "--agent ADDRESS is required"}`,
      );
      return SUBMIT_EXIT.usage;
    }
    const say = (line: string) => opts.json || ctx.print(ctx.logger.redactor.text(line));
    const result: SubmitResult = { job_id: opts.jobId, agent, status: "timeout", timeline: [] };

    const nc = await connectClient(connectOptionsFromConfig(config, "lamda-submit"), { reconnect: true });
    try {
      const sub = nc.subscribe(config.statusSubject);
      await nc.flush();

      const job: Record<string, unknown> = { job_id: opts.jobId, image_name: opts.image };
      if (opts.input) {
        const uploaded = await uploadInput(opts.input, {
          apiUrl: config.pinataApiUrl,
          jwt: config.pinataJwt,
          maxBytes: config.inputMaxBytes,
          signal: ctx.signal,
        });
        result.input_cid = uploaded.cid;
        job.input_file_cid = uploaded.cid;
        say(`input    ${uploaded.cid} (${uploaded.kind}, ${uploaded.bytes} bytes)`);
      }
      if (opts.command) job.command = opts.command;
      const message = opts.sign && wallet ? await signJob(job, wallet) : job;
      const subject = `jobs.dispatch.${agent}`;
      const via = await publishJob(nc, config, subject, opts.jobId, JSON.stringify(message));
      say(`job      ${opts.jobId} → ${subject}${opts.sign ? " (signed)" : ""} via ${via}`);

      const deadline = AbortSignal.any([ctx.signal, AbortSignal.timeout(opts.timeoutMs)]);
      const onAbort = () => sub.unsubscribe();
      deadline.addEventListener("abort", onAbort, { once: true });
      for await (const m of sub) {
        let s: Status;
        try {
          s = m.json() as Status;
        } catch {
          continue;
        }
        if (s?.job_id !== opts.jobId) continue;
        result.timeline.push(s);
        say(timelineLine(s));
        if (s.status === "completed" || s.status === "failed") {
          result.status = s.status;
          for (const k of ["reason", "message", "output_cid"] as const) if (typeof s[k] === "string") result[k] = s[k];
          if (typeof s.exit_code === "number") result.exit_code = s.exit_code;
          break;
        }
      }
      deadline.removeEventListener("abort", onAbort);
      if (result.status === "timeout") {
        say(`no final status for ${opts.jobId} within ${formatDuration(opts.timeoutMs)}`);
      } else if (result.status === "completed" && opts.outputDir && result.output_cid) {
        const storage = new Storage(config, ctx.logger);
        const got = await storage.fetchInput(result.output_cid, opts.outputDir, { signal: ctx.signal });
        result.output_dir = opts.outputDir;
        say(`output   ${opts.outputDir}: ${got.files} file(s), ${got.bytes} bytes (verified, from ${got.gateway})`);
      }
    } finally {
      await nc.close().catch(() => {});
    }
    if (opts.json) ctx.print(ctx.logger.redactor.text(JSON.stringify(result, null, 2)));
    return result.status === "completed" ? SUBMIT_EXIT.completed : SUBMIT_EXIT.failed;
  },
};

/**
 * Publishes the job. In JetStream mode it goes through `js.publish` (stored, deduplicated by job id) when a stream
 * captures the subject; without one it is a plain publish, as in core mode.
 */
async function publishJob(
  nc: NatsConnection,
  config: Config,
  subject: string,
  jobId: string,
  data: string,
): Promise<string> {
  if (config.jobIntake === "jetstream") {
    const { jetstream } = await import("@nats-io/jetstream");
    try {
      const ack = await jetstream(nc, { timeout: 5000 }).publish(subject, data, { msgID: jobId });
      return `JetStream ${ack.stream} #${ack.seq}${ack.duplicate ? " (duplicate)" : ""}`;
    } catch (error) {
      if (!/no responders|no stream|503/i.test(oneLine(error))) throw error;
    }
  }
  nc.publish(subject, data);
  await nc.flush();
  return "core NATS";
}

/** One line of the printed timeline. */
export function timelineLine(s: Status): string {
  const time = typeof s.timestamp === "string" ? s.timestamp : new Date().toISOString();
  const status = String(s.status ?? "?").padEnd(10);
  if (s.status === "processing") return `${time}  ${status} ${s.stage ?? ""}`.trimEnd();
  if (s.status === "completed") {
    const exit = typeof s.exit_code === "number" ? ` exit ${s.exit_code}` : "";
    return `${time}  ${status} output ${s.output_cid ?? ""}${exit}`;
  }
  const why = [s.reason, s.message].filter((v) => typeof v === "string" && v !== "").join(": ");
  return `${time}  ${status} ${why}`.trimEnd();
}
