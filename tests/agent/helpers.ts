/** Helpers for end-to-end agent tests: a status collector and a job publisher on the local network. */
import { connect, type NatsConnection } from "nats-transport";

/** One status message as published on `agent.status`. */
export type Status = Record<string, unknown> & { job_id: string; status: string };

/** Collects every status message, and lets tests wait for one. */
export class StatusWatch implements AsyncDisposable {
  readonly nc: NatsConnection;
  readonly all: Status[] = [];
  #waiters: { test: (s: Status) => boolean; resolve: (s: Status) => void }[] = [];

  private constructor(nc: NatsConnection, subject: string) {
    this.nc = nc;
    const sub = nc.subscribe(subject);
    (async () => {
      for await (const m of sub) {
        const s = m.json() as Status;
        this.all.push(s);
        this.#waiters = this.#waiters.filter((w) => (w.test(s) ? (w.resolve(s), false) : true));
      }
    })();
  }

  /** Connects to `url` and subscribes to `subject` (default `agent.status`). */
  static async open(url: string, subject = "agent.status"): Promise<StatusWatch> {
    // The NATS client ignores credentials in URLs: the agent's own splitting passes them as options.
    const { splitUrlCredentials } = await import("../../src/bus/mod.ts");
    const { servers, ...auth } = splitUrlCredentials([url]);
    const nc = await connect({ servers, ...auth, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const w = new StatusWatch(nc, subject);
    await nc.flush();
    return w;
  }

  /** Statuses of one job, in arrival order. */
  of(jobId: string): Status[] {
    return this.all.filter((s) => s.job_id === jobId);
  }

  /** Waits for a terminal status (`completed` or `failed`) of `jobId`. */
  terminal(jobId: string, timeoutMs = 90_000): Promise<Status> {
    return this.waitFor((s) => s.job_id === jobId && (s.status === "completed" || s.status === "failed"), timeoutMs);
  }

  /** Waits for a status matching `test` (already received ones count). */
  waitFor(test: (s: Status) => boolean, timeoutMs = 90_000): Promise<Status> {
    const seen = this.all.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Timed out waiting for a status; got ${JSON.stringify(this.all)}`)),
        timeoutMs,
      );
      this.#waiters.push({
        test,
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
      });
    });
  }

  /** Publishes a job message to the agent's dispatch subject. */
  async dispatch(address: string, job: Record<string, unknown>): Promise<void> {
    this.nc.publish(`jobs.dispatch.${address}`, JSON.stringify(job));
    await this.nc.flush();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.nc.close();
  }
}

/** Docker containers of a job, by label, including stopped ones. */
export async function jobContainers(dockerHost: string, jobId: string): Promise<unknown[]> {
  const { DockerClient } = await import("../../src/docker/mod.ts");
  using docker = new DockerClient(dockerHost);
  const filters = JSON.stringify({ label: [`lamda.job_id=${jobId}`] });
  return await docker.json<unknown[]>("GET", "/containers/json", { query: { all: 1, filters } });
}

/** Polls `pred` every 200 ms until it holds, or throws after `timeoutMs` naming `what`. */
export async function waitUntil(
  pred: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every status the status stream (`LAMDA_STATUS` by default) stores for `jobId`, in stream order. */
export async function storedStatuses(nc: NatsConnection, jobId: string, stream = "LAMDA_STATUS"): Promise<Status[]> {
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: Status[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    const s = m?.json<Status>();
    if (s?.job_id === jobId) out.push(s);
  }
  return out;
}

/** The agent's durable job consumer: messages not yet delivered and delivered but not yet acked. */
export async function jobConsumerState(
  nc: NatsConnection,
  address: string,
  stream = "LAMDA_JOBS",
): Promise<{ pending: number; ackPending: number }> {
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const { durableConsumers } = await import("../../src/bus/mod.ts");
  const info = await (await jetstreamManager(nc)).consumers.info(stream, durableConsumers(address)[0].durable);
  return { pending: info.num_pending, ackPending: info.num_ack_pending };
}

/** One container event from Docker's `/events` stream. */
export interface ContainerEvent {
  action: string;
  id: string;
  jobId: string | undefined;
  timeNano: number;
}

/**
 * Docker's `/events` stream for containers carrying `label` (`lamda.job_id=x`, `lamda.agent=0x…`), collected from
 * the moment {@linkcode DockerEvents.open} returns until disposal.
 */
export class DockerEvents implements AsyncDisposable {
  readonly events: ContainerEvent[] = [];
  #reader: ReadableStreamDefaultReader<string>;
  #done: Promise<void>;
  #close: () => void;
  #closed = false;

  private constructor(body: ReadableStream<Uint8Array>, close: () => void) {
    this.#close = close;
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
    this.#done = this.#read();
  }

  /** Subscribes; resolves once the daemon has answered, so every later event is seen. */
  static async open(dockerHost: string, label: string): Promise<DockerEvents> {
    const { DockerClient } = await import("../../src/docker/mod.ts");
    const docker = new DockerClient(dockerHost);
    const abort = new AbortController();
    const filters = JSON.stringify({ type: ["container"], label: [label] });
    try {
      const res = await docker.request("GET", "/events", { query: { filters }, signal: abort.signal });
      return new DockerEvents(res.body!, () => {
        abort.abort();
        docker.close();
      });
    } catch (error) {
      docker.close();
      throw error;
    }
  }

  async #read(): Promise<void> {
    let buf = "";
    try {
      while (true) {
        const { value, done } = await this.#reader.read();
        if (done) return;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) this.#push(line);
        }
      }
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  #push(line: string): void {
    const e = JSON.parse(line) as {
      Action?: string;
      status?: string;
      id?: string;
      Actor?: { ID?: string; Attributes?: Record<string, string> };
      timeNano?: number;
    };
    this.events.push({
      action: e.Action ?? e.status ?? "",
      id: e.Actor?.ID ?? e.id ?? "",
      jobId: e.Actor?.Attributes?.["lamda.job_id"],
      timeNano: e.timeNano ?? 0,
    });
  }

  /** Events with this action (`create`, `start`, `die`, `destroy`), optionally of one job. */
  of(action: string, jobId?: string): ContainerEvent[] {
    return this.events.filter((e) => e.action === action && (jobId === undefined || e.jobId === jobId));
  }

  /** The most containers running at once, replaying `start`/`die` in stream order. */
  maxRunning(): number {
    const running = new Set<string>();
    let max = 0;
    for (const e of this.events) {
      if (e.action === "start") running.add(e.id);
      if (e.action === "die") running.delete(e.id);
      max = Math.max(max, running.size);
    }
    return max;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    await this.#reader.cancel().catch(() => {});
    this.#close();
    await this.#done.catch(() => {});
  }
}

/** GETs `path` on the agent's HTTP endpoint; returns the status and body text. */
export async function httpGet(addr: string, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${addr}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}
