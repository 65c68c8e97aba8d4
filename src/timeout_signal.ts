/** Deadlines that do not keep the process alive. */

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
