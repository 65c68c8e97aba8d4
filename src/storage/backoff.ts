/** Retry delays: the project's one backoff (src/timers.ts), and the server's own `Retry-After`. */
export { backoffDelay } from "../timers.ts";

/** Parses an HTTP `Retry-After` (seconds or date) into milliseconds, or `undefined`. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
