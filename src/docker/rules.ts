/** Checks on job fields that reach Docker: the output mount point and the job's environment. */

/** A job field a container must never see; raised before any Docker API call. */
export class InvalidJobSpecError extends Error {
  override name = "InvalidJobSpecError";
  /** The job field at fault, e.g. `output_path`. */
  readonly field: string;
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.field = field;
  }
}

/** Trees the runtime or kernel owns; an output mount in or over them is refused. */
const FORBIDDEN_TREES = ["/proc", "/sys", "/dev", "/input", "/etc", "/run", "/var/run"];
/** System directories a mount would hide wholesale; a subdirectory of them is fine. */
const FORBIDDEN_EXACT = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/boot", "/tmp", "/var"];
const MAX_PATH_LENGTH = 1024;

/** Absolute, normalized, no "..", not "/", not under /proc /sys /dev /input /etc /run; returns the normalized path. */
export function validateOutputPath(path: string): string {
  const bad = (why: string) => new InvalidJobSpecError("output_path", `output_path ${JSON.stringify(path)} ${why}`);
  if (typeof path !== "string" || path === "") throw bad("must be a non-empty absolute path");
  if (path.length > MAX_PATH_LENGTH) throw bad(`is longer than ${MAX_PATH_LENGTH} characters`);
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) throw bad("contains control characters");
  if (!path.startsWith("/")) throw bad("must be absolute (start with /)");
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw bad('must not contain ".."');
  const normalized = "/" + parts.join("/");
  if (normalized === "/") throw bad("must not be the container's root /");
  for (const tree of FORBIDDEN_TREES) {
    if (normalized === tree || normalized.startsWith(tree + "/")) {
      throw bad(
        tree === "/input" ? "must not be /input or inside it (the read-only input mount)" : `must not be under ${tree}`,
      );
    }
  }
  if (FORBIDDEN_EXACT.includes(normalized)) throw bad(`must not be the system directory ${normalized}`);
  return normalized;
}

/** Most variables a job may set. */
export const MAX_ENV_VARS = 128;
/** Most bytes of names plus values a job's environment may carry. */
export const MAX_ENV_BYTES = 64 * 1024;
const MAX_ENV_NAME = 256;

/** Variables that steer the container runtime, the GPU hook or the loader; a job never sets them. */
const FORBIDDEN_NAMES = new Set([
  "CUDA_VISIBLE_DEVICES",
  "CUDA_DEVICE_ORDER",
  "CUDA_MPS_PIPE_DIRECTORY",
  "CUDA_MPS_LOG_DIRECTORY",
  "GPU_DEVICE_ORDINAL",
  "HIP_VISIBLE_DEVICES",
  "ROCR_VISIBLE_DEVICES",
  "LD_PRELOAD",
  "LD_AUDIT",
]);
const FORBIDDEN_PREFIXES = ["NVIDIA_", "DOCKER_", "LAMDA_", "CONTAINERD_", "RUNC_"];

/** Rejects NVIDIA_*, other runtime-control variables, bad names and NUL bytes; caps count and size. Returns a copy. */
export function validateJobEnv(env: Record<string, string>): Record<string, string> {
  const bad = (why: string) => new InvalidJobSpecError("env", `env ${why}`);
  if (typeof env !== "object" || env === null || Array.isArray(env)) throw bad("must be an object of strings");
  const entries = Object.entries(env);
  if (entries.length > MAX_ENV_VARS) throw bad(`has ${entries.length} variables; at most ${MAX_ENV_VARS} are allowed`);
  const out: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of entries) {
    if (name.length > MAX_ENV_NAME || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw bad(`variable name ${JSON.stringify(name.slice(0, 64))} is not a valid name ([A-Za-z_][A-Za-z0-9_]*)`);
    }
    const upper = name.toUpperCase();
    if (FORBIDDEN_NAMES.has(upper) || FORBIDDEN_PREFIXES.some((p) => upper.startsWith(p))) {
      throw bad(`variable ${name} controls the container runtime or GPU assignment and cannot be set by a job`);
    }
    if (typeof value !== "string") throw bad(`variable ${name} must be a string`);
    if (value.includes("\0")) throw bad(`variable ${name} contains a NUL byte`);
    bytes += name.length + new TextEncoder().encode(value).length;
    if (bytes > MAX_ENV_BYTES) throw bad(`is larger than ${MAX_ENV_BYTES} bytes`);
    out[name] = value;
  }
  return out;
}
