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
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
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
