/**
 * `cancel <job_id>`: publishes `{"job_id": …}` on `jobs.cancel.<agent>` (signed with the configured key when asked),
 * the request the agent's cancel handler accepts (src/bus/cancel.ts). The agent answers on STATUS_SUBJECT with
 * `failed`/`cancelled` for a job it holds, and ignores one it does not.
 */
import { getAddress, isAddress } from "ethers";
import { connectClient, connectOptionsFromConfig } from "../bus/mod.ts";
import { chainSettings, loadWallet } from "../chain/mod.ts";
import type { Command } from "../command.ts";
import { JOB_ID_PATTERN, signCancel } from "../job/mod.ts";

/** Exit codes of `cancel`. */
export const CANCEL_EXIT = { published: 0, usage: 2 } as const;

/** `lamda-node-agent cancel <job_id> [--agent ADDRESS] [--sign]`. */
export const cancelCommand: Command = {
  name: "cancel",
  summary: "ask an agent to cancel a queued or running job (--sign when the agent sets JOB_SIGNERS)",
  description: "Publishes the cancel request on jobs.cancel.<agent>. --agent defaults to the configured key's " +
    "address; --sign signs the request with the configured key (an agent with JOB_SIGNERS ignores unsigned or " +
    "foreign cancels). The agent reports the job failed/cancelled on STATUS_SUBJECT; it ignores a job it does not " +
    "hold, so follow the job (follow JOB_ID) to see the outcome.\n" +
    "Exit 0 when the request was published, 1 when NATS could not be reached, 2 on a usage error.",
  positionals: [{ name: "job_id", description: "the job to cancel (submit prints it)" }],
  options: {
    agent: { type: "string", placeholder: "ADDRESS", description: "the agent running the job" },
    sign: { type: "boolean", description: "sign the request with the configured key" },
  },
  usesKey: true,
  async run(ctx) {
    const usage = (message: string) => {
      ctx.logger.error(`cancel: ${message} (see cancel --help)`);
      return CANCEL_EXIT.usage;
    };
    const [jobId, extra] = ctx.args;
    if (jobId === undefined) return usage("give the job id: cancel <job_id>");
    if (extra !== undefined) return usage(`unexpected argument ${JSON.stringify(extra)}`);
    if (!JOB_ID_PATTERN.test(jobId)) return usage("the job id must be 1-128 letters, digits or ._:-");
    const o = ctx.options;
    if (typeof o.agent === "string" && !isAddress(o.agent)) return usage("--agent must be a 0x address");
    const sign = o.sign === true;
    const { config } = ctx.loaded;
    const hasKey = Boolean(config.privateKey || config.keystore);
    if (!hasKey && (sign || typeof o.agent !== "string")) {
      return usage(sign ? "--sign needs AGENT_PRIVATE_KEY (or AGENT_KEYSTORE)" : "--agent ADDRESS is required");
    }
    const wallet = sign || typeof o.agent !== "string"
      ? await loadWallet(chainSettings(config).key, { logger: ctx.logger })
      : undefined;
    const agent = getAddress(typeof o.agent === "string" ? o.agent : wallet!.address);
    const body = sign ? await signCancel(jobId, wallet!) : { job_id: jobId };
    const subject = `jobs.cancel.${agent}`;

    const nc = await connectClient(connectOptionsFromConfig(config, "lamda-cancel"), { reconnect: false });
    try {
      nc.publish(subject, JSON.stringify(body));
      await nc.flush();
    } finally {
      await nc.close().catch(() => {});
    }
    ctx.print(
      `Cancel request for job ${jobId} published on ${subject}${sign ? " (signed)" : ""}. ` +
        `The agent reports the job failed/cancelled on ${config.statusSubject}; a job it does not hold is ignored.`,
    );
    return CANCEL_EXIT.published;
  },
};
