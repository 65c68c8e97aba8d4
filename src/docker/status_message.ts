/**
 * Docker's error texts as a published job status may carry them: without the host's paths. Daemon messages name
 * overlay directories (`/var/lib/docker/overlay2/…`), runtime state (`/run/containerd/…`), bind sources under
 * DATA_DIR and the socket; statuses go to the network, so those become `<host path>`. The paths a job sees (`/input`,
 * `/output`, its `output_path`) stay, because they are what the job's author needs to read the error.
 */
import { DockerError } from "./client.ts";

/** What a host path is shown as. */
export const HOST_PATH = "<host path>";

/** The container-side paths every job has. */
const JOB_PATHS = ["/input", "/output"];

/** Options of {@linkcode withoutHostPaths} and {@linkcode dockerStatusMessage}. */
export interface StatusMessageOptions {
  /** More container-side paths that stay, with what is under them (the job's `output_path`). */
  containerPaths?: readonly string[];
  /** Paths the job itself gave (its command's), which stay only when they appear whole. */
  jobPaths?: readonly string[];
}

// A URL (kept, but for a unix socket's path), or an absolute path that does not continue a word, a name or a URL.
const TOKEN = /[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]*|(?<![\w.~/-])\/[^\s"'`,;:()[\]{}<>=]+/gi;

/** `text` with every absolute path replaced by {@linkcode HOST_PATH}, but for container-side paths and URLs. */
export function withoutHostPaths(text: string, options: StatusMessageOptions = {}): string {
  const kept = [...JOB_PATHS, ...(options.containerPaths ?? [])]
    .map((p) => p.replace(/\/+$/, ""))
    .filter((p) => p.startsWith("/"));
  return text.replace(TOKEN, (token) => {
    if (!token.startsWith("/")) return /^unix:\/\//i.test(token) ? `unix://${HOST_PATH}` : token;
    const path = token.replace(/[.]+$/, "");
    const end = token.slice(path.length);
    if (kept.some((k) => path === k || path.startsWith(`${k}/`))) return token;
    if (options.jobPaths?.includes(path)) return token;
    return HOST_PATH + end;
  });
}

/**
 * The message of an error from the daemon (or met while talking to it) for a job's status: host paths removed. The
 * API path of a failed call (`/containers/…/start`) is Docker's, not the host's, and stays.
 */
export function dockerStatusMessage(error: unknown, options: StatusMessageOptions = {}): string {
  const text = error instanceof Error ? error.message : String(error);
  if (!(error instanceof DockerError) || !text.includes(error.path)) return withoutHostPaths(text, options);
  // Shield the call's own path with a marker no daemon text holds, then put it back.
  const marker = "\u0000api\u0000";
  return withoutHostPaths(text.replaceAll(error.path, marker), options).replaceAll(marker, error.path);
}
