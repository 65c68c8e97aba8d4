/**
 * Where one job's time goes: milliseconds per step, added up as the job moves (`Job finished` logs them as
 * `timing`; `deno task bench` prints their medians, docs/performance.md explains them). Steps that run at the same
 * time (the input fetch and the image pull) each count their own wall time.
 */
export class StepTimes {
  readonly #ms: Record<string, number> = {};

  /** Adds `ms` to `step`. */
  add(step: string, ms: number): void {
    this.#ms[step] = (this.#ms[step] ?? 0) + ms;
  }

  /** Adds the time since `t0` (a `performance.now()` reading) to `step`; returns now. */
  since(step: string, t0: number): number {
    const now = performance.now();
    this.add(step, now - t0);
    return now;
  }

  /** Runs `fn` and adds its wall time to `step`, whatever its outcome. */
  async time<T>(step: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.since(step, t0);
    }
  }

  /** Each step in milliseconds, to 0.1 ms, in the order first seen. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.#ms).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  }
}

/** Times `fn` into `times` when given; runs it plainly otherwise. */
export function timed<T>(times: StepTimes | undefined, step: string, fn: () => Promise<T>): Promise<T> {
  return times ? times.time(step, fn) : fn();
}
