/** Timers for long-running code: deadlines that do not keep the process alive, and sleeps an AbortSignal cuts short. */

/**
 * Like `AbortSignal.timeout(ms)`, but its timer is unref'd: in Deno a listened-to `AbortSignal.timeout` keeps the
 * process running until it fires, which would hold a stopping agent up for as long as the longest deadline.
 */
export function timeoutSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  const id = setTimeout(
    () => controller.abort(new DOMException(`Signal timed out after ${ms} ms`, "TimeoutError")),
    ms,
  );
  Deno.unrefTimer(id);
  return controller.signal;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Exponential backoff with jitter: attempt 0 → between `baseMs`/2 and `baseMs`, doubling, capped at `maxMs`. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts (the promise itself runs on). */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** {@linkcode backoffDelay} in whole seconds once it reaches a second: retry delays people read in log lines. */
export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  const ms = backoffDelay(attempt, baseMs, maxMs);
  return ms >= 1000 ? Math.round(ms / 1000) * 1000 : ms;
}

/** Waits until every promise has settled, or `ms` have passed, whichever comes first; never rejects. */
export async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise<void>((r) => timer = setTimeout(r, Math.max(0, ms))),
  ]);
  clearTimeout(timer);
}
