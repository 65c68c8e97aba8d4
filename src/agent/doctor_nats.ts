/** The doctor's NATS check: one connection attempt (no retries), auth, and permission on the agent's subjects. */
import { connectClient, connectOptionsFromConfig, dispatchSubjects, presenceSubject } from "../bus/mod.ts";
import type { NatsConnection, Status } from "../bus/mod.ts";
import type { Config } from "../config/mod.ts";
import { redactUrl } from "../config/mod.ts";
import { deniedAccess } from "../permissions/mod.ts";
import { type CheckOutcome, fail, oneLine, pass, warn } from "./doctor_report.ts";
import { sleep } from "../timers.ts";

/** Fix shown when NATS cannot be reached. */
export const NATS_UNREACHABLE_FIX =
  "check NATS_URL (scheme, host and port), that nats-server runs and that this host " +
  "may reach it (firewall, TLS: NATS_TLS_CA)";
const AUTH_FIX = "check NATS_CREDS / NATS_NKEY_SEED_FILE / NATS_TOKEN / NATS_USER + NATS_PASSWORD against the " +
  "server's accounts";
/** What the agent's NATS user must be allowed, for this node (the subjects it publishes and subscribes to). */
function permissionFix(config: Config, address: string | undefined): string {
  const a = address ?? "<node address>";
  const presence = address ? presenceSubject(address) : `agent.heartbeat.${a}`;
  return `grant the agent's NATS user publish on ${config.statusSubject} and ${presence}, subscribe on ` +
    `jobs.dispatch.${a} and jobs.cancel.${a} (checksummed and lowercase)` +
    (config.jobIntake === "jetstream" ? ", and $JS.API.> for JetStream" : "") + " (docs/bus.md)";
}

/** Connects once, publishes on the status subject, subscribes to the dispatch subjects, and reports violations. */
export async function checkNats(
  config: Config,
  address: string | undefined,
  signal: AbortSignal,
): Promise<CheckOutcome> {
  const servers = config.natsServers.map(redactUrl).join(", ");
  let nc: NatsConnection;
  try {
    nc = await connectClient(connectOptionsFromConfig(config, "lamda-node-agent-doctor"), { reconnect: false });
  } catch (error) {
    // The report's explainer names the setting and the flags command for a sandbox refusal.
    if (deniedAccess(error)) throw error;
    const text = oneLine(error);
    const auth = /auth|credential|permission|nkey|jwt|user/i.test(`${(error as Error).name} ${text}`);
    return fail(`cannot connect to ${servers}: ${text}`, auth ? AUTH_FIX : NATS_UNREACHABLE_FIX);
  }
  const violations: string[] = [];
  const watching = (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) {
      if (s.type === "error" && /permission/i.test(`${s.error?.name} ${s.error?.message}`)) {
        violations.push(oneLine(s.error));
      }
    }
  })();
  try {
    const server = nc.getServer();
    // A probe without job_id: status consumers key on job_id and pass over it.
    nc.publish(config.statusSubject, JSON.stringify({ doctor: address ?? null, timestamp: new Date().toISOString() }));
    const subjects = address ? dispatchSubjects(address) : [];
    const subs = subjects.map((subject) => nc.subscribe(subject));
    for (const sub of subs) {
      sub.closed.then((error) => {
        if (error) violations.push(oneLine(error));
      }).catch((error) => violations.push(oneLine(error)));
    }
    // The server answers a violation with -ERR before the PONG of the next flush.
    await nc.flush();
    await sleep(100, signal);
    if (violations.length) {
      return fail(
        `connected to ${server}, but: ${[...new Set(violations)].join("; ")}`,
        permissionFix(config, address),
      );
    }
    const js = config.jobIntake === "jetstream" ? await jetstreamNote(nc, config) : undefined;
    if (js?.level === "fail") return fail(`connected to ${server}; ${js.text}`, js.fix);
    const checked = address
      ? `publish on ${config.statusSubject} and subscribe on jobs.dispatch.${address} allowed`
      : `publish on ${config.statusSubject} allowed (no node key: dispatch subscription not checked)`;
    const found = `connected to ${server}; ${checked}${js ? `; ${js.text}` : ""}`;
    return js?.level === "warn" || !address
      ? warn(found, js?.fix ?? "set AGENT_PRIVATE_KEY so the dispatch subject can be checked")
      : pass(found);
  } finally {
    await nc.close().catch(() => {});
    await watching.catch(() => {});
  }
}

/** In JetStream mode: whether the job stream exists (or will be created), as one note. */
async function jetstreamNote(
  nc: NatsConnection,
  config: Config,
): Promise<{ level: "pass" | "warn" | "fail"; text: string; fix: string }> {
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const stream = config.jetstreamJobStream;
  const createFix = `create the stream ${stream} (subjects jobs.dispatch.>) or set JETSTREAM_CREATE_STREAMS=true`;
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    await jsm.streams.info(stream);
    return { level: "pass", text: `JetStream stream ${stream} exists`, fix: "" };
  } catch (error) {
    // The report's explainer names the setting and the flags command for a sandbox refusal.
    if (deniedAccess(error)) throw error;
    const text = oneLine(error);
    if (/not found/i.test(text)) {
      return config.jetstreamCreateStreams
        ? { level: "pass", text: `JetStream stream ${stream} will be created at start-up`, fix: "" }
        : { level: "fail", text: `JetStream stream ${stream} does not exist`, fix: createFix };
    }
    return {
      level: "fail",
      text: `JetStream is not usable: ${text}`,
      fix: "enable JetStream on the server (nats-server -js) and allow $JS.API.> for the agent's user, " +
        "or set JOB_INTAKE=core",
    };
  }
}
