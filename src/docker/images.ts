/** Images: operator policy, inspect, pull when missing (auth, progress, total and inactivity timeouts), digest check. */
import { type Logger, Redactor } from "../log/mod.ts";
import { type DockerClient, DockerError, DockerUnreachableError } from "./client.ts";
import { DiskSpaceError, ImagePolicyError, ImagePullError } from "./errors.ts";
import { type ImageReference, parseImageReference, qualifiedName } from "./reference.ts";
import { type ProgressMode, type PullMessage, PullProgress } from "./pull_progress.ts";

/** The operator's image rules. */
export interface ImagePolicy {
  /** Exact names, prefixes ending in `/`, or globs with `*`; undefined allows any image. */
  allowlist?: string[];
  /** Refuse references without `@sha256:`. */
  requireDigest?: boolean;
}

/** Registry credentials, sent only to `server`. */
export interface RegistryAuth {
  server: string;
  username: string;
  password: string;
}

const DOCKER_HUB = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** Qualifies an allowlist entry like an image name (`busybox` → `docker.io/library/busybox`). */
function qualifyPattern(entry: string): string {
  const first = entry.split("/")[0];
  const hasRegistry = entry.includes("/") && (/[.:]/.test(first) || first === "localhost");
  if (hasRegistry) return entry;
  if (!entry.includes("/") && !entry.includes("*")) return `docker.io/library/${entry}`;
  return `docker.io/${entry}`;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

/** Whether `ref` matches one allowlist entry. */
export function allowlistMatches(ref: ImageReference, entry: string): boolean {
  const name = qualifiedName(ref);
  const pattern = qualifyPattern(entry.trim());
  if (pattern.includes("*")) return globToRegExp(pattern).test(name);
  if (pattern.endsWith("/")) return name.startsWith(pattern);
  return name === pattern;
}

/** Throws {@linkcode ImagePolicyError} when the policy refuses `ref`. */
export function checkImagePolicy(ref: ImageReference, policy: ImagePolicy): void {
  if (policy.requireDigest && !ref.digest) {
    throw new ImagePolicyError(
      ref.canonical,
      `image ${ref.canonical} is refused: this node requires a digest reference (name@sha256:…)`,
    );
  }
  if (policy.allowlist && !policy.allowlist.some((e) => allowlistMatches(ref, e))) {
    throw new ImagePolicyError(ref.canonical, `image ${qualifiedName(ref)} is not in this node's IMAGE_ALLOWLIST`);
  }
}

/** What {@linkcode ensureImage} found or pulled. */
export interface ImageInfo {
  id: string;
  repoDigests: string[];
  pulled: boolean;
  /** The image's size as the daemon reports it (`Size`), in bytes; 0 when it does not say. */
  sizeBytes: number;
  /** The image's environment (`Config.Env`, `NAME=value` entries): where `NVIDIA_REQUIRE_CUDA` lives. */
  env: string[];
  /** The image's labels (`Config.Labels`). */
  labels: Record<string, string>;
}

/** Options of {@linkcode ensureImage}. */
export interface EnsureImageOptions {
  policy?: ImagePolicy;
  auth?: RegistryAuth;
  totalTimeoutMs?: number;
  inactivityTimeoutMs?: number;
  logger?: Logger;
  progress?: ProgressMode;
  /** Least time between two progress log lines (default 10 s). */
  progressIntervalMs?: number;
  /**
   * Called on every progress message of the pull with the compressed bytes the registry announced so far and those
   * downloaded (the jobs' progress); throwing ends the pull with that error (the disk preflight: a pull that cannot
   * fit stops before its bytes fill the disk).
   */
  onProgress?: (p: PullProgressReport) => void;
  signal?: AbortSignal;
}

/** How far a pull is: compressed bytes the registry announced, and downloaded. */
export interface PullProgressReport {
  totalBytes: number;
  downloadedBytes: number;
}

/** The fields of `GET /images/{name}/json` the agent reads. */
export interface InspectedImage {
  Id: string;
  RepoDigests?: string[] | null;
  Size?: number;
  Config?: { Env?: string[] | null; Labels?: Record<string, string> | null } | null;
}

/** Inspects an image; undefined when the daemon does not have it. */
export async function inspectImage(
  docker: DockerClient,
  ref: string,
  signal?: AbortSignal,
): Promise<InspectedImage | undefined> {
  try {
    return await docker.json("GET", `/images/${ref}/json`, { signal });
  } catch (error) {
    if (error instanceof DockerError && error.status === 404) return undefined;
    throw error;
  }
}

/** The X-Registry-Auth header value for `ref`, or undefined when the credentials belong to another registry. */
export function registryAuthHeader(ref: ImageReference, auth?: RegistryAuth): string | undefined {
  if (!auth) return undefined;
  const registry = ref.registry ?? "docker.io";
  const same = registry === auth.server || (DOCKER_HUB.has(registry) && DOCKER_HUB.has(auth.server));
  return same ? encodeRegistryAuth(auth).urlSafe : undefined;
}

/** The credentials as Docker takes them: base64 of their JSON, in the URL-safe alphabet the header uses and the plain one. */
function encodeRegistryAuth(auth: RegistryAuth): { urlSafe: string; plain: string } {
  const json = JSON.stringify({ username: auth.username, password: auth.password, serveraddress: auth.server });
  const plain = btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  return { urlSafe: plain.replaceAll("+", "-").replaceAll("/", "_"), plain };
}

/** Registers every form the credentials travel in (the password, the header value) with a redactor (the logger's). */
export function redactRegistryAuth(redactor: Redactor, auth: RegistryAuth | undefined): void {
  if (!auth) return;
  const { urlSafe, plain } = encodeRegistryAuth(auth);
  for (const secret of [auth.password, urlSafe, plain]) redactor.add(secret);
}

/** Checks policy, then returns the local image, pulling it when missing; a digest reference must match its digest. */
export async function ensureImage(
  docker: DockerClient,
  image: string,
  options: EnsureImageOptions = {},
): Promise<ImageInfo> {
  const ref = parseImageReference(image);
  checkImagePolicy(ref, options.policy ?? {});
  let found = await inspectImage(docker, ref.canonical, options.signal);
  let pulled = false;
  if (!found) {
    await pullImage(docker, ref, options);
    pulled = true;
    found = await inspectImage(docker, ref.canonical, options.signal);
    if (!found) throw new ImagePullError(ref.canonical, `image ${ref.canonical} is still missing after its pull`);
  }
  const repoDigests = found.RepoDigests ?? [];
  if (ref.digest && !repoDigests.some((d) => d.endsWith(`@${ref.digest}`))) {
    throw new ImagePullError(
      ref.canonical,
      `image ${ref.canonical} does not match its digest: Docker reports ${repoDigests.join(", ") || "no digest"}`,
    );
  }
  return {
    id: found.Id,
    repoDigests,
    pulled,
    sizeBytes: found.Size ?? 0,
    env: found.Config?.Env ?? [],
    labels: found.Config?.Labels ?? {},
  };
}

/** Pulls `ref` with progress, under a total and an inactivity timeout. */
export async function pullImage(
  docker: DockerClient,
  ref: ImageReference,
  options: EnsureImageOptions = {},
): Promise<void> {
  const totalMs = options.totalTimeoutMs ?? 30 * 60_000;
  const idleMs = options.inactivityTimeoutMs ?? 120_000;
  const ctl = new AbortController();
  let why = "";
  const abort = (reason: string) => {
    why ||= reason;
    ctl.abort(new Error(reason));
  };
  const onOuter = () => abort("cancelled");
  options.signal?.addEventListener("abort", onOuter, { once: true });
  if (options.signal?.aborted) onOuter();
  const total = setTimeout(() => abort(`took longer than ${Math.round(totalMs / 1000)} s`), totalMs);
  let idle = setTimeout(() => abort(`made no progress for ${Math.round(idleMs / 1000)} s`), idleMs);
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort(`made no progress for ${Math.round(idleMs / 1000)} s`), idleMs);
  };
  const name = ref.registry ? `${ref.registry}/${ref.repository}` : ref.repository;
  const progress = new PullProgress(ref.canonical, options.logger, {
    mode: options.progress,
    logIntervalMs: options.progressIntervalMs,
  });
  const headers: Record<string, string> = {};
  const auth = registryAuthHeader(ref, options.auth);
  if (auth) headers["X-Registry-Auth"] = auth;
  // The registry's error may quote what it got: pull errors (which reach job statuses) never carry the credentials.
  const redactor = options.logger?.redactor ?? new Redactor();
  redactRegistryAuth(redactor, options.auth);
  options.logger?.info("pulling image", { image: ref.canonical, authenticated: auth !== undefined });
  try {
    const res = await docker.request("POST", "/images/create", {
      query: { fromImage: name, tag: ref.digest ?? ref.tag ?? "latest" },
      headers,
      signal: ctl.signal,
    });
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body!) {
      touch();
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg: PullMessage;
        try {
          msg = JSON.parse(line);
        } catch {
          continue; // a non-JSON progress line is cosmetic
        }
        if (msg.error || msg.errorDetail?.message) {
          throw new ImagePullError(
            ref.canonical,
            redactor.text(`cannot pull ${ref.canonical}: ${msg.error ?? msg.errorDetail?.message}`),
          );
        }
        progress.update(msg);
        if (options.onProgress) {
          const t = progress.totals();
          options.onProgress({ totalBytes: t.totalBytes, downloadedBytes: t.currentBytes });
        }
      }
    }
    progress.finish();
  } catch (error) {
    if (
      error instanceof ImagePullError || error instanceof DockerUnreachableError || error instanceof DiskSpaceError
    ) throw error;
    if (why) {
      if (why === "cancelled") throw options.signal?.reason ?? error;
      throw new ImagePullError(ref.canonical, `pull of ${ref.canonical} ${why}`, { cause: error });
    }
    const detail = redactor.text(error instanceof Error ? error.message : String(error));
    throw new ImagePullError(ref.canonical, `cannot pull ${ref.canonical}: ${detail}`, { cause: error });
  } finally {
    clearTimeout(total);
    clearTimeout(idle);
    options.signal?.removeEventListener("abort", onOuter);
  }
}
