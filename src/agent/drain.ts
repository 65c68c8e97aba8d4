/**
 * Drain control on the host, through DATA_DIR (mode 0700: only the agent's user can use it; the HTTP port, which may
 * be exposed for scraping, cannot): `drain` creates `DATA_DIR/control/drain`, `undrain` removes it, and the agent,
 * which looks every second, answers in `DATA_DIR/control/state.json`. The request is a file, so a drained node stays
 * drained across a restart until `undrain`.
 */
import { join } from "node:path";
import type { Command } from "../command.ts";
import { sleep } from "../timers.ts";

/** What the agent writes to `state.json`. */
export interface DrainState {
  draining: boolean;
  /** When the agent last applied a change (or started), ISO time. */
  updated_at: string;
  running_jobs: number;
  queued_jobs: number;
  pid: number;
}

/** How often the agent rewrites `state.json` without a change. */
const STATE_REFRESH_MS = 3000;

function paths(dataDir: string) {
  const dir = join(dataDir, "control");
  return { dir, request: join(dir, "drain"), state: join(dir, "state.json") };
}

/** The agent's side: applies the request file and reports its state. */
export class DrainControl {
  #paths: ReturnType<typeof paths>;
  #apply: (draining: boolean) => void;
  #report: () => { running_jobs: number; queued_jobs: number };
  #timer?: ReturnType<typeof setInterval>;
  #draining?: boolean;
  #requestMtime?: number;
  #writtenAt = 0;

  constructor(
    dataDir: string,
    apply: (draining: boolean) => void,
    report: () => { running_jobs: number; queued_jobs: number },
  ) {
    this.#paths = paths(dataDir);
    this.#apply = apply;
    this.#report = report;
  }

  /** Applies the request file now, then every `intervalMs`. */
  async start(intervalMs = 1000): Promise<void> {
    await Deno.mkdir(this.#paths.dir, { recursive: true, mode: 0o700 });
    await this.check();
    this.#timer = setInterval(() => void this.check().catch(() => {}), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * Reads the request file; on a change (a new request counts, even for the state the node is in), applies it and
   * writes the state; otherwise refreshes the state every few seconds, so `drain`/`undrain` know the agent lives.
   */
  async check(): Promise<void> {
    const stat = await Deno.lstat(this.#paths.request).catch(() => undefined);
    const wanted = stat !== undefined;
    const mtime = stat?.mtime?.getTime();
    const changed = wanted !== this.#draining || mtime !== this.#requestMtime;
    if (!changed && Date.now() - this.#writtenAt < STATE_REFRESH_MS) return;
    this.#requestMtime = mtime;
    if (wanted !== this.#draining) {
      this.#draining = wanted;
      this.#apply(wanted);
    }
    this.#writtenAt = Date.now();
    const state: DrainState = {
      draining: wanted,
      updated_at: new Date().toISOString(),
      ...this.#report(),
      pid: Deno.pid,
    };
    const tmp = `${this.#paths.state}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(state) + "\n", { mode: 0o600 });
    await Deno.rename(tmp, this.#paths.state);
  }
}

/** Exit codes of `drain` / `undrain`. */
export const DRAIN_EXIT = { ok: 0, noAgent: 1 } as const;

/** `drain` and `undrain`: ask the agent running with this DATA_DIR, and wait for its answer. */
function drainCommand(on: boolean): Command {
  return {
    name: on ? "drain" : "undrain",
    summary: on
      ? "stop taking new jobs on this host's agent; running jobs finish (undrain to resume)"
      : "let this host's draining agent take jobs again",
    description:
      (on
        ? "The agent running with this DATA_DIR finishes the jobs it holds and answers new ones failed/rejected " +
          '"draining" (JetStream: they stay in the stream). It stays drained across restarts until `undrain`.'
        : "Ends a drain.") +
      " Works through DATA_DIR/control (only the agent's user can write it). Exit 0 when the agent confirmed, 1 " +
      "when no running agent answered within 10 s (the request stays and applies at its next start).",
    options: { json: { type: "boolean", description: "print the agent's state as JSON" } },
    async run(ctx) {
      const p = paths(ctx.loaded.config.dataDir);
      await Deno.mkdir(p.dir, { recursive: true, mode: 0o700 });
      const asked = Date.now();
      if (on) await Deno.writeTextFile(p.request, new Date(asked).toISOString() + "\n", { mode: 0o600 });
      else {await Deno.remove(p.request).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });}
      for (let waited = 0; waited < 10_000 && !ctx.signal.aborted; waited += 200) {
        const state = await readDrainState(ctx.loaded.config.dataDir);
        // Written after the request: a live agent in the requested state.
        if (state && state.draining === on && Date.parse(state.updated_at) >= asked) {
          if (ctx.options.json === true) ctx.print(JSON.stringify(state));
          else {
            ctx.print(
              on
                ? `draining: the agent (pid ${state.pid}) takes no new job; ${state.running_jobs} running and ` +
                  `${state.queued_jobs} queued will finish`
                : `taking jobs again (agent pid ${state.pid})`,
            );
          }
          return DRAIN_EXIT.ok;
        }
        await sleep(200, ctx.signal).catch(() => {});
      }
      ctx.logger.error(
        `no running agent with DATA_DIR=${ctx.loaded.config.dataDir} confirmed within 10 s; the request is ` +
          `${on ? "left in place and applies when the agent starts" : "withdrawn"}`,
      );
      return DRAIN_EXIT.noAgent;
    },
  };
}

/** The agent's last answer, if any. */
export async function readDrainState(dataDir: string): Promise<DrainState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(paths(dataDir).state)) as DrainState;
  } catch {
    return undefined;
  }
}

export const drainOnCommand: Command = drainCommand(true);
export const undrainCommand: Command = drainCommand(false);
