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
