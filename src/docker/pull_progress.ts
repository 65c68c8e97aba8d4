/** Image pull progress: a live bar on a TTY, a periodic log line otherwise. */
import type { Logger } from "../log/mod.ts";

/** One message of Docker's pull progress stream. */
export interface PullMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/** How progress is shown: `auto` picks the bar when stderr is a terminal. */
export type ProgressMode = "auto" | "bar" | "log" | "none";

/** Sums layer progress and renders it now and then. */
export class PullProgress {
  #layers = new Map<string, { current: number; total: number; done: boolean }>();
  #mode: "bar" | "log" | "none";
  #lastRender = 0;
  #intervalMs: number;
  constructor(
    private image: string,
    private logger?: Logger,
    options: { mode?: ProgressMode; logIntervalMs?: number } = {},
  ) {
    const mode = options.mode ?? "auto";
    this.#mode = mode === "auto" ? (Deno.stderr.isTerminal() ? "bar" : "log") : mode;
    this.#intervalMs = options.logIntervalMs ?? 10_000;
  }

  /** Feeds one progress message. */
  update(msg: PullMessage): void {
    // "Pulling from <repo>" carries the tag as its id: not a layer.
    if (msg.id && msg.status && !msg.status.startsWith("Pulling from")) {
      const layer = this.#layers.get(msg.id) ?? { current: 0, total: 0, done: false };
      if (msg.status === "Downloading") {
        // A blob sent without Content-Length has no total: its bytes still count.
        layer.current = msg.progressDetail?.current ?? layer.current;
        if (msg.progressDetail?.total) layer.total = msg.progressDetail.total;
      } else if (/^(Download complete|Pull complete|Already exists)$/.test(msg.status)) {
        layer.done = true;
        layer.current = layer.total;
      }
      this.#layers.set(msg.id, layer);
    }
    const now = Date.now();
    const interval = this.#mode === "bar" ? 200 : this.#intervalMs;
    if (now - this.#lastRender >= interval) {
      this.#lastRender = now;
      this.#render(false);
    }
  }

  /** Totals so far. */
  totals(): { currentBytes: number; totalBytes: number; layers: number; layersDone: number } {
    let currentBytes = 0, totalBytes = 0, layersDone = 0;
    for (const l of this.#layers.values()) {
      currentBytes += l.current;
      totalBytes += l.total;
      if (l.done) layersDone++;
    }
    return { currentBytes, totalBytes, layers: this.#layers.size, layersDone };
  }

  /** Renders the final state (ends the bar's line). */
  finish(): void {
    this.#render(true);
  }

  #render(final: boolean): void {
    const t = this.totals();
    if (this.#mode === "log") {
      if (!final) {
        this.logger?.info("pulling image", {
          image: this.image,
          downloaded_bytes: t.currentBytes,
          total_bytes: t.totalBytes,
          layers: t.layers,
          layers_done: t.layersDone,
        });
      }
    } else if (this.#mode === "bar") {
      const frac = t.totalBytes > 0 ? Math.min(1, t.currentBytes / t.totalBytes) : 0;
      const width = 30;
      const filled = Math.round(frac * width);
      const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
      const line = `\rpulling ${this.image} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ` +
        `${Math.round(frac * 100)}% ${mb(t.currentBytes)}/${mb(t.totalBytes)} MiB, ${t.layersDone}/${t.layers} layers`;
      Deno.stderr.writeSync(new TextEncoder().encode(final ? `${line}\n` : line));
    }
  }
}
