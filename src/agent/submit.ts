/**
 * `submit`: uploads an input through the Pinata API, publishes a job on `jobs.dispatch.<agent>` (signed with the
 * configured key when asked), follows its statuses and, once completed, fetches the verified output. `follow <job_id>`
 * does the second half for a job already dispatched.
 */
import { getAddress, isAddress } from "ethers";
import { z } from "zod";
import { connectClient, connectOptionsFromConfig, jobLogSubject, type NatsConnection } from "../bus/mod.ts";
import { chainSettings, loadWallet } from "../chain/mod.ts";
import type { Command, CommandContext } from "../command.ts";
import { type Config, formatDuration, parseDuration } from "../config/mod.ts";
import { dockerSpecChecks, parseImageReference } from "../docker/mod.ts";
import { JOB_ID_PATTERN, signJob } from "../job/mod.ts";
import { formatBytes } from "../log/mod.ts";
import { Storage } from "../storage/mod.ts";
import { oneLine } from "./doctor_report.ts";
import { interruptedLines, type Status, timelineLine } from "./submit_timeline.ts";
import { submitProgress, uploadInput } from "./submit_upload.ts";
import { type ConnectionChange, openStatusFeed, watchConnection } from "./submit_watch.ts";

export { timelineLine } from "./submit_timeline.ts";

/** Exit codes of `submit`; 130 is the shell's code for "stopped by Ctrl-C" (128 + SIGINT). */
export const SUBMIT_EXIT = { completed: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** Default time `submit` waits for a terminal status. */
export const DEFAULT_SUBMIT_TIMEOUT_MS = 30 * 60_000;

/** What `submit --json` prints. */
export interface SubmitResult {
  job_id: string;
  agent?: string;
  input_cid?: string;
  /** `interrupted`: Ctrl-C stopped `submit`; the job itself was not stopped. */
  status: "completed" | "failed" | "timeout" | "interrupted";
  reason?: string;
  message?: string;
  exit_code?: number;
  output_cid?: string;
  output_dir?: string;
  timeline: Status[];
}

class Usage extends Error {}

/** What marks the job's live output in the timeline: `  │ ` before a stdout line, `  ! ` before a stderr line. */
export const LOG_PREFIX = { stdout: "  │ ", stderr: "  ! " } as const;

/** How the job's live output shows (both commands' help). */
const LIVE_OUTPUT_HELP = "While the job runs, its output from jobs.logs.<job_id> is printed as it comes: stdout " +
  `lines after "${LOG_PREFIX.stdout.trim()}", stderr lines after "${LOG_PREFIX.stderr.trim()}" (not with --json; ` +
  "--no-logs turns it off). The agent streams at most JOB_LOG_STREAM_MAX_BYTES of it per attempt.";

/** A message on `jobs.logs.<job_id>`, as far as `submit` reads it (src/bus/job_logs.ts writes it). */
const LiveOutput = z.object({
  job_id: z.string(),
  stream: z.enum(["stdout", "stderr"]),
  data: z.string(),
  truncated: z.literal(true).optional(),
  dropped_bytes: z.number().int().nonnegative().optional(),
});

/** The options both modes share. */
function commonOptions(o: CommandContext["options"]) {
  const timeoutMs = typeof o.timeout === "string" ? parseDuration(o.timeout) : DEFAULT_SUBMIT_TIMEOUT_MS;
  if (timeoutMs === undefined || timeoutMs <= 0) throw new Usage(`--timeout must be a duration like 90s or 10m`);
  if (typeof o.agent === "string" && !isAddress(o.agent)) throw new Usage(`--agent must be a 0x address`);
  return {
    timeoutMs,
    agent: typeof o.agent === "string" ? getAddress(o.agent) : undefined,
    outputDir: typeof o["output-dir"] === "string" ? o["output-dir"] : undefined,
    json: o.json === true,
    logs: o["no-logs"] !== true,
  };
}

/** The job fields and settings from the command line. Throws {@linkcode Usage} when they are wrong. */
function parseOptions(ctx: CommandContext) {
  const o = ctx.options;
  if (ctx.args.length) throw new Usage(`unexpected argument ${JSON.stringify(ctx.args[0])}`);
  const image = o.image as string; // required: the parser checks it
  try {
    parseImageReference(image);
  } catch (error) {
    throw new Usage(`--image: ${(error as Error).message}`);
  }
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
  const jobId = typeof o["job-id"] === "string" ? o["job-id"] : `submit-${crypto.randomUUID()}`;
  if (!JOB_ID_PATTERN.test(jobId)) throw new Usage(`--job-id must be 1-128 letters, digits or ._:-`);
  return {
    ...commonOptions(o),
    follow: false as const,
    image,
    command,
    jobId,
    input: typeof o.input === "string" ? o.input : undefined,
    sign: o.sign === true,
  };
}

/** `follow <job_id>`: no upload, no dispatch. */
function parseFollowOptions(ctx: CommandContext) {
  const [jobId, extra] = ctx.args;
  if (jobId === undefined) throw new Usage("give the job id: follow <job_id>");
  if (extra !== undefined) throw new Usage(`unexpected argument ${JSON.stringify(extra)}`);
  if (!JOB_ID_PATTERN.test(jobId)) throw new Usage("the job id must be 1-128 letters, digits or ._:-");
  return { ...commonOptions(ctx.options), follow: true as const, jobId, sign: false };
}

type Options = ReturnType<typeof parseOptions> | ReturnType<typeof parseFollowOptions>;

/** `submit --image IMG [--input PATH] [--command JSON] [--output-dir DIR] [--agent ADDR] …`. */
export const submitCommand: Command = {
  name: "submit",
  summary: "upload an input, dispatch a job to an agent, follow its statuses and fetch its output",
  description: "The input (a file, seen as /input/input, or a directory) is uploaded through PINATA_API_URL with " +
    "PINATA_JWT; the output is fetched and verified through IPFS_GATEWAYS. --agent defaults to the configured key's " +
    "address; --sign signs the job with that key (the agent must list it in JOB_SIGNERS). --timeout bounds the wait " +
    `for a final status (default ${formatDuration(DEFAULT_SUBMIT_TIMEOUT_MS)}).\n` +
    `${LIVE_OUTPUT_HELP}\n` +
    "Ctrl-C stops waiting, not the job: it keeps running on the agent; `follow JOB_ID` follows it again, " +
    "`cancel JOB_ID` stops it.\n" +
    "Exit 0 when the job completed, 1 when it failed (or no final status came in time), 2 on a usage error, " +
    "130 when Ctrl-C stopped the wait.",
  options: {
    image: { type: "string", placeholder: "IMAGE", required: true, description: "the job's Docker image" },
    input: { type: "string", placeholder: "PATH", description: "a file or directory to upload as the input" },
    command: { type: "string", placeholder: "JSON", description: `the command, as a JSON array: '["sh","-c","…"]'` },
    "output-dir": { type: "string", placeholder: "DIR", description: "fetch the output into this directory" },
    agent: { type: "string", placeholder: "ADDRESS", description: "the agent to dispatch to" },
    "job-id": { type: "string", placeholder: "ID", description: "the job id (default: submit-<uuid>)" },
    timeout: { type: "string", placeholder: "DURATION", description: "how long to wait for the result" },
    sign: { type: "boolean", description: "sign the job with the configured key" },
    json: { type: "boolean", description: "print one JSON result instead of the timeline" },
    "no-logs": { type: "boolean", description: "do not print the job's live output" },
  },
  usesKey: true,
  run: (ctx) => start(ctx, "submit", parseOptions),
};

/** `follow <job_id>`: what `submit` does after the dispatch, for a job already dispatched. */
export const followCommand: Command = {
  name: "follow",
  summary: "follow a dispatched job's statuses until it ends, and fetch its output (after Ctrl-C in submit)",
  description: "Prints the job's statuses as submit does. With JOB_INTAKE=jetstream they come from the status " +
    "stream, so statuses published before follow started are shown too; on core NATS only the next ones are. " +
    "--output-dir fetches and verifies the output once the job completed.\n" +
    `${LIVE_OUTPUT_HELP}\n` +
    "Exit 0 when the job completed, 1 when it failed (or no final status came in time), 2 on a usage error, " +
    "130 when Ctrl-C stopped the wait.",
  positionals: [{ name: "job_id", description: "the job to follow (submit prints it)" }],
  options: {
    "output-dir": { type: "string", placeholder: "DIR", description: "fetch the output into this directory" },
    agent: { type: "string", placeholder: "ADDRESS", description: "the agent running the job (for the hints)" },
    timeout: { type: "string", placeholder: "DURATION", description: "how long to wait for the result" },
    json: { type: "boolean", description: "print one JSON result instead of the timeline" },
    "no-logs": { type: "boolean", description: "do not print the job's live output" },
  },
  usesKey: true,
  run: (ctx) => start(ctx, "follow", parseFollowOptions),
};

/** Parses the options (a usage error exits 2), finds the agent and the key, and runs the submission. */
async function start(ctx: CommandContext, name: string, parse: (ctx: CommandContext) => Options): Promise<number> {
  let opts: Options;
  try {
    opts = parse(ctx);
  } catch (error) {
    if (!(error instanceof Usage)) throw error;
    ctx.logger.error(`${name}: ${error.message} (see ${name} --help)`);
    return SUBMIT_EXIT.usage;
  }
  const { config } = ctx.loaded;
  const hasKey = Boolean(config.privateKey || config.keystore);
  const wallet = opts.sign || (!opts.agent && (hasKey || !opts.follow))
    ? await loadWallet(chainSettings(config).key, { logger: ctx.logger }).catch((error) => {
      if (!hasKey) return undefined;
      throw error;
    })
    : undefined;
  const agent = opts.agent ?? (wallet ? getAddress(wallet.address) : undefined);
  if ((!agent && !opts.follow) || (opts.sign && !wallet)) {
    ctx.logger.error(
      `${name}: ${opts.sign ? "--sign needs AGENT_PRIVATE_KEY (or AGENT_KEYSTORE)" : "--agent ADDRESS is required"}`,
    );
    return SUBMIT_EXIT.usage;
  }
  return await new Submission(ctx, opts, agent, wallet).run();
}

/** One run of `submit`: what it did so far decides what an interrupt means. */
class Submission {
  readonly #ctx: CommandContext;
  readonly #opts: Options;
  readonly #config: Config;
  readonly #agent?: string;
  readonly #wallet?: Awaited<ReturnType<typeof loadWallet>>;
  readonly #result: SubmitResult;
  #phase: "connecting" | "uploading" | "dispatching" | "waiting" | "fetching" | "done" = "connecting";

  constructor(ctx: CommandContext, opts: Options, agent?: string, wallet?: Awaited<ReturnType<typeof loadWallet>>) {
    this.#ctx = ctx;
    this.#opts = opts;
    this.#config = ctx.loaded.config;
    this.#agent = agent;
    this.#wallet = wallet;
    this.#result = { job_id: opts.jobId, ...(agent ? { agent } : {}), status: "timeout", timeline: [] };
  }

  /** A line of the human output (not with --json); secrets redacted. */
  #say(line: string): void {
    if (!this.#opts.json) this.#ctx.print(this.#ctx.logger.redactor.text(line));
  }

  /** An event line in the timeline's columns (`<time>  nats       …`); a log line with --json. */
  #event(kind: string, text: string, level: "info" | "warn" = "info"): void {
    if (this.#opts.json) this.#ctx.logger[level](text);
    else this.#say(`${new Date().toISOString()}  ${kind.padEnd(10)} ${text}`);
  }

  async run(): Promise<number> {
    const ctx = this.#ctx;
    const opts = this.#opts;
    const config = this.#config;
    const nc = await connectClient(connectOptionsFromConfig(config, "lamda-submit"), { reconnect: true });
    const stream = config.jobIntake === "jetstream" ? config.jetstreamStatusStream : undefined;
    let live = true;
    const watching = watchConnection(nc, (change) => this.#connectionChanged(change, live)).catch(() => {});
    try {
      const feed = await openStatusFeed(nc, {
        subject: config.statusSubject,
        stream,
        from: opts.follow ? "all" : "new",
        onFallback: (why) => ctx.logger.debug(`submit: following statuses on core NATS: ${why}`),
      });
      live = feed.source.startsWith("core");
      let output: { unsubscribe(): void } | undefined;
      try {
        // Subscribed before the dispatch, so the first lines are not missed; one JSON result with --json.
        if (opts.logs && !opts.json) output = await this.#followOutput(nc);
        if (!opts.follow) await this.#dispatch(nc);
        await this.#wait(feed);
        ctx.signal.throwIfAborted();
      } finally {
        feed.stop();
        output?.unsubscribe();
      }
      if (this.#result.status === "completed" && opts.outputDir && this.#result.output_cid) {
        await this.#fetchOutput(opts.outputDir, this.#result.output_cid);
      }
      this.#phase = "done";
    } catch (error) {
      if (!ctx.signal.aborted) throw error;
    } finally {
      await nc.close().catch(() => {});
      await watching;
    }
    if (ctx.signal.aborted && this.#phase !== "done") return this.#interrupted();
    if (opts.json) ctx.print(ctx.logger.redactor.text(JSON.stringify(this.#result, null, 2)));
    return this.#result.status === "completed" ? SUBMIT_EXIT.completed : SUBMIT_EXIT.failed;
  }

  #connectionChanged(change: ConnectionChange, live: boolean): void {
    if (this.#phase === "done") return;
    if (change.type === "disconnected") {
      const missed = live ? "; statuses published until it is back are missed" : "";
      this.#event("nats", `connection to ${change.server} lost, reconnecting${missed}`, "warn");
    } else {
      const caught = live ? "" : "; statuses sent meanwhile come from the status stream";
      this.#event("nats", `connection back (${change.server})${caught}`);
    }
  }

  /** Prints the job's live output from `jobs.logs.<job_id>` as it comes, until the subscription is stopped. */
  async #followOutput(nc: NatsConnection): Promise<{ unsubscribe(): void }> {
    const subject = jobLogSubject(this.#opts.jobId);
    const sub = nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) return;
        const lines = liveOutputLines(msg.string(), this.#opts.jobId);
        if (lines === undefined) this.#ctx.logger.debug(`submit: ignored a malformed message on ${subject}`);
        else for (const line of lines) this.#say(line);
      },
    });
    await nc.flush();
    return sub;
  }

  /** Uploads the input (when given) and publishes the job. */
  async #dispatch(nc: NatsConnection): Promise<void> {
    const opts = this.#opts;
    if (opts.follow) return;
    const ctx = this.#ctx;
    const config = this.#config;
    const job: Record<string, unknown> = { job_id: opts.jobId, image_name: opts.image };
    if (opts.input) {
      this.#phase = "uploading";
      this.#say(`Uploading the input ${opts.input} through the Pinata API …`);
      const uploaded = await uploadInput(opts.input, {
        apiUrl: config.pinataApiUrl,
        jwt: config.pinataJwt,
        maxBytes: config.inputMaxBytes,
        signal: ctx.signal,
        ...submitProgress(ctx.logger),
      });
      this.#result.input_cid = uploaded.cid;
      job.input_file_cid = uploaded.cid;
      this.#say(`input    ${uploaded.cid} (${uploaded.kind}, ${formatBytes(uploaded.bytes)})`);
    }
    if (opts.command) job.command = opts.command;
    this.#phase = "dispatching";
    const message = opts.sign && this.#wallet ? await signJob(job, this.#wallet, dockerSpecChecks) : job;
    const subject = `jobs.dispatch.${this.#agent}`;
    const via = await publishJob(nc, config, subject, opts.jobId, JSON.stringify(message));
    this.#say(`job      ${opts.jobId} → ${subject}${opts.sign ? " (signed)" : ""} via ${via}`);
  }

  /** Prints the job's statuses until a final one, the timeout, or Ctrl-C. */
  async #wait(feed: Awaited<ReturnType<typeof openStatusFeed>>): Promise<void> {
    const opts = this.#opts;
    const result = this.#result;
    this.#phase = "waiting";
    this.#say(
      `Waiting for the statuses of ${opts.jobId} from ${feed.source}, up to ${formatDuration(opts.timeoutMs)} ` +
        `(Ctrl-C stops waiting; the job keeps running)`,
    );
    const deadline = AbortSignal.any([this.#ctx.signal, AbortSignal.timeout(opts.timeoutMs)]);
    const stop = () => feed.stop();
    deadline.addEventListener("abort", stop, { once: true });
    if (deadline.aborted) stop(); // Ctrl-C during the dispatch: no abort event comes any more
    try {
      for await (const s of feed.statuses) {
        if (s.job_id !== opts.jobId) continue;
        result.timeline.push(s);
        this.#say(timelineLine(s));
        if (s.status === "completed" || s.status === "failed") {
          result.status = s.status;
          for (const k of ["reason", "message", "output_cid"] as const) if (typeof s[k] === "string") result[k] = s[k];
          if (typeof s.exit_code === "number") result.exit_code = s.exit_code;
          if (!result.agent && typeof s.agent_address === "string") result.agent = s.agent_address;
          break;
        }
      }
    } finally {
      deadline.removeEventListener("abort", stop);
    }
    if (result.status === "timeout" && !this.#ctx.signal.aborted) {
      this.#say(`No final status for ${opts.jobId} within ${formatDuration(opts.timeoutMs)}`);
    }
  }

  async #fetchOutput(dir: string, cid: string): Promise<void> {
    const ctx = this.#ctx;
    this.#phase = "fetching";
    this.#say(`Fetching the output ${cid} into ${dir} …`);
    const storage = new Storage(this.#config, ctx.logger);
    const got = await storage.fetchInput(cid, dir, {
      signal: ctx.signal,
      label: "output",
      ...submitProgress(ctx.logger),
    });
    this.#result.output_dir = dir;
    this.#say(`output   ${dir}: ${got.files} file(s), ${formatBytes(got.bytes)} (verified, from ${got.gateway})`);
  }

  /** Ctrl-C: say what happened to the job and how to get back to it; exit 130. */
  #interrupted(): number {
    const ctx = this.#ctx;
    const opts = this.#opts;
    const result = this.#result;
    let lines: string[];
    if (this.#phase === "connecting" || this.#phase === "uploading" || this.#phase === "dispatching") {
      lines = [`Stopped before job ${opts.jobId} was dispatched: nothing runs on the agent.`];
    } else if (this.#phase === "fetching") {
      lines = [`Stopped fetching the output. Job ${opts.jobId} completed; its output is ${result.output_cid}.`];
    } else {
      result.status = "interrupted";
      lines = interruptedLines({
        jobId: opts.jobId,
        agent: this.#agent ?? result.agent ?? "<agent address>",
        statusSubject: this.#config.statusSubject,
        signed: opts.sign,
      });
    }
    if (opts.json) {
      for (const line of lines) ctx.logger.warn(line);
      ctx.print(ctx.logger.redactor.text(JSON.stringify(result, null, 2)));
    } else {
      for (const line of lines) this.#say(line);
    }
    return SUBMIT_EXIT.interrupted;
  }
}

/**
 * The lines to print for one message of a job's live output: each output line after its stream's
 * {@linkcode LOG_PREFIX}, or the note that the agent stopped streaming. Control characters (terminal escapes) are
 * dropped, tabs kept. Undefined when the payload is not such a message; none for another job's.
 */
export function liveOutputLines(payload: string, jobId: string): string[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const parsed = LiveOutput.safeParse(json);
  if (!parsed.success) return undefined;
  const m = parsed.data;
  if (m.job_id !== jobId) return [];
  if (m.truncated) {
    return [`  … job output truncated: ${m.dropped_bytes ?? 0} bytes not streamed (JOB_LOG_STREAM_MAX_BYTES)`];
  }
  const lines = m.data.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((line) => LOG_PREFIX[m.stream] + line.replace(/(?!\t)\p{Cc}/gu, ""));
}

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
