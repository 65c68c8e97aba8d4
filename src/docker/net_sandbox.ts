/**
 * Network sandboxes: long-lived holder containers whose empty network namespace (loopback only) job containers join
 * (`NetworkMode: container:<holder>`), one job at a time each.
 *
 * A job container with `NetworkMode: none` gets a new network namespace at every start, and creating and tearing one
 * down is about half of `docker start` (≈ 80 of 145 ms for a trivial container here; dockerd's and the kernel's CPU
 * alike). A holder made once and joined by one job after another gives each job the same isolation: loopback only, no
 * interface out; never shared by two jobs at a time (a job's holder goes back to the pool only once its container is
 * removed, so no process of it is left in the namespace); `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` come
 * read-only with the read-only root filesystem, so one job cannot leave anything there for the next; and without
 * capabilities a job cannot change the namespace's interfaces, routes, firewall or sysctls.
 *
 * Holders are labelled `lamda.netns=<address>`, not `lamda.agent` (whatever lists the agent's job containers never sees
 * them). A restarted agent adopts the running holders that no job container uses and removes stopped ones; a holder a
 * re-attached job still uses is adopted once that container is gone. When the holder image cannot be had, or a holder
 * cannot be made, jobs get a namespace of their own as without sandboxes (logged once), and the image is tried again
 * later.
 */
import type { Logger } from "../log/mod.ts";
import type { DockerClient } from "./client.ts";
import { LABELS } from "./container_spec.ts";
import { ensureImage } from "./images.ts";

/** The label that marks a network-sandbox holder; its value is the agent's address. */
export const NETNS_LABEL = "lamda.netns";

/** How long after a failure (image pull, holder start) sandboxes are tried again. */
const RETRY_MS = 5 * 60_000;

/** Options of {@linkcode NetworkSandboxes}. */
export interface NetworkSandboxOptions {
  /** The holder image (its own command must run until stopped, like Kubernetes' `pause`). */
  image: string;
  agentAddress: string;
  /** Most holders kept: the agent's concurrent jobs plus one spare. */
  maxHolders: number;
  logger: Logger;
  /** Image pull limits, as for job images. */
  pullTimeoutMs?: number;
  pullInactivityTimeoutMs?: number;
}

/** A holder a job has, until it gives it back. */
export interface SandboxLease {
  /** The holder's container id: the job container's `NetworkMode` is `container:<id>`. */
  readonly id: string;
  /** Gives the holder back (call once the job container is removed); `broken` removes it instead. */
  release(broken?: boolean): void;
}

interface Summary {
  Id: string;
  State?: string;
  Labels?: Record<string, string>;
  HostConfig?: { NetworkMode?: string };
}

/** The pool of this agent's holders. */
export class NetworkSandboxes {
  readonly #docker: DockerClient;
  readonly #o: NetworkSandboxOptions;
  readonly #log: Logger;
  /** Holders no job uses. */
  #free: string[] = [];
  /** Holders jobs use now. */
  #busy = new Set<string>();
  // The spares being made in the background, and holders being removed after their job (close waits for both).
  #spares = new Set<Promise<void>>();
  #removing = new Set<Promise<void>>();
  #ready: Promise<boolean> | undefined;
  /** Whether the last start succeeded: jobs never wait for the image. */
  #usable = false;
  #failedAt = 0;
  #warned = false;
  #closed = false;

  constructor(docker: DockerClient, options: NetworkSandboxOptions) {
    this.#docker = docker;
    this.#o = options;
    this.#log = options.logger.child({ component: "netns" });
  }

  /** Holders in the pool now (free and in use). */
  get size(): number {
    return this.#free.length + this.#busy.size;
  }

  /**
   * Adopts this agent's running holders that no container uses, removes stopped ones, and makes sure of the image;
   * then fills the pool with one free holder. Never throws; resolves whether sandboxes are usable.
   */
  start(signal?: AbortSignal): Promise<boolean> {
    this.#ready ??= (async () => {
      try {
        await this.adopt(signal);
        await ensureImage(this.#docker, this.#o.image, {
          totalTimeoutMs: this.#o.pullTimeoutMs,
          inactivityTimeoutMs: this.#o.pullInactivityTimeoutMs,
          logger: this.#log,
          signal,
        });
        if (this.#closed) return false;
        if (this.#free.length === 0) {
          const id = await this.#make(signal);
          // Stopped while it was being made: it is not the pool's any more.
          if (this.#closed) {
            await this.#remove(id);
            return false;
          }
          this.#free.push(id);
        }
        this.#usable = true;
        this.#log.info("job network sandboxes ready", { image: this.#o.image, holders: this.size });
        return true;
      } catch (error) {
        this.#unavailable(error);
        return false;
      }
    })();
    return this.#ready;
  }

  /**
   * A holder for one job, or undefined (the job then gets a namespace of its own): sandboxes are not ready, failed
   * lately, or none could be made. Takes a free holder when there is one (and makes the next spare in the background),
   * else makes one.
   */
  async acquire(signal?: AbortSignal): Promise<SandboxLease | undefined> {
    if (this.#closed) return undefined;
    if (!this.#usable) {
      if (this.#failedAt && Date.now() - this.#failedAt >= RETRY_MS) {
        this.#failedAt = 0;
        this.#ready = undefined;
        void this.start();
      }
      return undefined;
    }
    let id = this.#free.pop();
    if (!id) {
      try {
        id = await this.#make(signal);
      } catch (error) {
        if (!signal?.aborted) this.#unavailable(error);
        return undefined;
      }
    }
    this.#busy.add(id);
    this.#spare();
    let released = false;
    return {
      id,
      release: (broken = false) => {
        if (released) return;
        released = true;
        this.#busy.delete(id);
        if (broken || this.#closed || this.size >= this.#o.maxHolders) {
          const removing: Promise<void> = this.#remove(id).finally(() => this.#removing.delete(removing));
          this.#removing.add(removing);
        } else this.#free.push(id);
      },
    };
  }

  /**
   * Takes in the running holders of this agent that are neither in the pool nor used by a container (after a
   * restart, or once a re-attached job's container is gone); removes stopped holders.
   */
  async adopt(signal?: AbortSignal): Promise<void> {
    const list = (label: string) =>
      this.#docker.json<Summary[]>("GET", "/containers/json", {
        query: { all: true, filters: JSON.stringify({ label: [`${label}=${this.#o.agentAddress}`] }) },
        signal,
      });
    const [jobs, holders] = await Promise.all([list(LABELS.agent), list(NETNS_LABEL)]);
    const used = new Set<string>();
    for (const c of jobs) {
      const mode = c.HostConfig?.NetworkMode ?? "";
      if (mode.startsWith("container:")) used.add(mode.slice(10));
    }
    const known = new Set([...this.#free, ...this.#busy]);
    for (const c of holders) {
      if (c.Labels?.[NETNS_LABEL] !== this.#o.agentAddress) continue;
      if (known.has(c.Id) || used.has(c.Id)) continue;
      if (c.State === "running" && this.size < this.#o.maxHolders) this.#free.push(c.Id);
      else await this.#remove(c.Id);
    }
  }

  /**
   * Removes the free holders (at shutdown); those jobs still use stay for the next start to adopt. Holders being made
   * are waited for and removed too (give `start` the shutdown signal, so that a pull does not hold this up).
   */
  async close(): Promise<void> {
    this.#closed = true;
    const free = this.#free.splice(0);
    await Promise.all([...free.map((id) => this.#remove(id)), this.#ready, ...this.#spares, ...this.#removing]);
  }

  /** One more free holder in the background, while the pool is under its size and none is free. */
  #spare(): void {
    const making = this.#spares.size;
    if (this.#free.length + making > 0 || this.size + making >= this.#o.maxHolders) return;
    const made: Promise<void> = this.#make().then(
      async (id) => {
        if (this.#closed) await this.#remove(id);
        else this.#free.push(id);
      },
      (error) => this.#unavailable(error),
    ).finally(() => this.#spares.delete(made));
    this.#spares.add(made);
  }

  /** Creates and starts one holder: no network, no capabilities, read-only, a few processes, little memory. */
  async #make(signal?: AbortSignal): Promise<string> {
    const { Id } = await this.#docker.json<{ Id: string }>("POST", "/containers/create", {
      query: {
        name: `lamda-netns-${this.#o.agentAddress.slice(2, 10).toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`,
      },
      body: {
        Image: this.#o.image,
        Labels: { [NETNS_LABEL]: this.#o.agentAddress },
        HostConfig: {
          NetworkMode: "none",
          CapDrop: ["ALL"],
          SecurityOpt: ["no-new-privileges"],
          ReadonlyRootfs: true,
          PidsLimit: 8,
          Memory: 16 * 1024 * 1024,
          MemorySwap: 16 * 1024 * 1024,
          NanoCpus: 100_000_000,
          IpcMode: "private",
          RestartPolicy: { Name: "no" },
          LogConfig: { Type: "none" },
        },
      },
      signal,
    });
    try {
      await this.#docker.send("POST", `/containers/${Id}/start`, { signal });
    } catch (error) {
      await this.#remove(Id);
      throw error;
    }
    return Id;
  }

  async #remove(id: string): Promise<void> {
    await this.#docker.send("DELETE", `/containers/${id}`, { query: { force: true }, okStatuses: [404] })
      .catch((error) => this.#log.warn("cannot remove a network sandbox", { container: id, error }));
  }

  #unavailable(error: unknown): void {
    this.#usable = false;
    this.#failedAt = Date.now();
    const log = this.#warned ? this.#log.debug.bind(this.#log) : this.#log.warn.bind(this.#log);
    this.#warned = true;
    log("job network sandboxes unavailable: each job container gets a network namespace of its own (slower start)", {
      image: this.#o.image,
      error: error as Error,
      retry_in_ms: RETRY_MS,
    });
  }
}
