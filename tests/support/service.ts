/** Whether a test service can run here; in CI a missing service is a failure, elsewhere a printed skip. */

/** True when running under CI (`CI=true`), where every service must be present. */
export const IN_CI = Deno.env.get("CI") === "true";

/**
 * Decides whether tests needing a service run. Returns `true` when `reason` is undefined (service present).
 * Otherwise prints a skip line with the reason and returns `false`, or throws in CI.
 */
export function serviceAvailable(service: string, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  if (IN_CI) throw new Error(`${service} is required in CI but unavailable: ${reason}`);
  console.warn(`SKIP tests needing ${service}: ${reason}`);
  return false;
}

/** Finds an executable on PATH; returns its path or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    const p = `${dir}/${name}`;
    try {
      const st = Deno.statSync(p);
      if (st.isFile && (st.mode ?? 0o111) & 0o111) return p;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Sends `signal` to a child and waits for it, escalating to SIGKILL after `graceMs`. */
export async function stopChild(child: Deno.ChildProcess, signal: Deno.Signal = "SIGTERM", graceMs = 5000) {
  try {
    child.kill(signal);
  } catch { /* already gone */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, graceMs);
  try {
    await child.status;
  } finally {
    clearTimeout(timer);
  }
}
