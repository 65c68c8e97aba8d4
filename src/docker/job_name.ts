/** The one host-side name of a job: container names and per-job directories both start from it. */

/** Docker's container name rules: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; also a safe directory name. */
function sanitize(text: string): string {
  return text.replace(/[^a-zA-Z0-9_.-]/g, "_").replace(/^[^a-zA-Z0-9]+/, "").slice(0, 64);
}

/** A short stable hash of the exact id, so that ids the sanitizer folds together (`a:b`, `a_b`) get distinct names. */
function shortHash(text: string): string {
  let h = 0x811c9dc5; // FNV-1a: deterministic and dependency-free; collisions are caught by Docker's 409 anyway.
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * `<sanitized id>-<8 hex hash of the id>`: readable, safe as a container or file name, and distinct for ids that
 * differ only in characters the sanitizer folds (`:` and `_`) or strips (leading `.`, `-`). Deterministic, so a
 * restarted agent finds the same container and directories.
 */
export function jobSlug(jobId: string): string {
  return `${sanitize(jobId)}-${shortHash(jobId)}`;
}
