/**
 * An image's CUDA requirement, checked the way NVIDIA's container toolkit checks it when Docker gives a container GPUs,
 * but before the container exists: a job the node's driver cannot run fails `cuda_unsupported` naming both versions,
 * instead of Docker's hook error at start.
 *
 * The rules are the toolkit's (nvidia-container-toolkit `internal/config/image/cuda_image.go` gathers the expressions;
 * libnvidia-container `src/cli/dsl.c` and `configure.c` evaluate them on the `nvidia-container-runtime-hook` path that
 * Docker's `DeviceRequests` take):
 * - every `NVIDIA_REQUIRE_*` variable of the container's environment except `NVIDIA_REQUIRE_JETPACK*` is one expression,
 *   and all of them must hold;
 * - in an expression, space-separated terms are alternatives (OR) and the comma-separated conditions of a term must all
 *   hold (AND). `cuda>=12.4 brand=tesla,driver>=535,driver<536` reads "a driver supporting CUDA 12.4, or a Tesla with a
 *   535 driver" (forward compatibility through the image's cuda-compat libraries): the `cuda>=` term is one alternative
 *   among the others, not a condition they add to;
 * - a condition is `property operator value` with `=`, `!=`, `<`, `<=`, `>`, `>=`; versions compare numerically, dot
 *   by dot (12.10 > 12.4, 12 = 12.0); a property whose value is unknown meets every condition on it;
 * - `NVIDIA_DISABLE_REQUIRE` true (as Go's `strconv.ParseBool` reads it) turns the check off;
 * - a legacy image (`CUDA_VERSION` set, `NVIDIA_REQUIRE_CUDA` empty) requires `cuda>=<major.minor of CUDA_VERSION>`;
 * - the `com.nvidia.cuda.version` label is not read: the toolkit does not read it (only nvidia-docker 1.0 did).
 *
 * The agent knows `cuda` (nvidia-smi's CUDA version) and `driver` (the driver version); `brand` and `arch` are unknown
 * to it and so meet every condition. It therefore refuses only what the hook refuses too.
 */

/** What the agent knows of the node's NVIDIA driver; the GPU inventory (`GpuInventory`) has both fields. */
export interface DriverFacts {
  /** The newest CUDA version the driver supports (nvidia-smi's `CUDA Version`), or null when unknown. */
  cudaVersion: string | null;
  /** The driver version (`535.183.01`), or null when unknown. */
  driverVersion: string | null;
}

/** One requirement expression of an image. */
export interface CudaRequirement {
  /** Where it comes from: `NVIDIA_REQUIRE_CUDA`, another `NVIDIA_REQUIRE_*`, or `CUDA_VERSION` (a legacy image). */
  source: string;
  /** The expression as the toolkit evaluates it (`cuda>=12.4 brand=tesla,driver>=470,driver<471 …`). */
  expression: string;
}

/** The requirements the toolkit would check for a container with this environment. */
export interface ImageCudaRequirements {
  /** `NVIDIA_DISABLE_REQUIRE` is true: nothing is checked. */
  disabled: boolean;
  requirements: CudaRequirement[];
  /** Why the requirements cannot be known (a legacy `CUDA_VERSION` that is not a version). */
  problem?: string;
}

/** The result of {@linkcode checkCudaRequirement}. */
export type CudaCheck =
  /** The image states no requirement. */
  | { kind: "none" }
  /** `NVIDIA_DISABLE_REQUIRE=true`. */
  | { kind: "disabled" }
  | { kind: "satisfied"; requirements: CudaRequirement[] }
  /** The agent cannot decide (driver CUDA version unknown, an expression it cannot read): Docker's hook will. */
  | { kind: "unchecked"; reason: string; requirements: CudaRequirement[] }
  | { kind: "unsupported"; requirement: CudaRequirement; message: string };

const REQUIRE_PREFIX = "NVIDIA_REQUIRE_";
const JETPACK_PREFIX = "NVIDIA_REQUIRE_JETPACK";
const OPERATORS = new Set(["=", "!=", "<", "<=", ">", ">="]);
/** The values Go's `strconv.ParseBool` reads as true (anything else, even `yes`, is false or invalid: not disabled). */
const GO_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);

/**
 * The container's environment as Docker builds it: the image's `NAME=value` entries, overridden by the job's own
 * variables (the job cannot set `NVIDIA_*`, but may set `CUDA_VERSION`).
 */
export function containerEnv(
  imageEnv: readonly string[],
  jobEnv: Readonly<Record<string, string>> = {},
): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of imageEnv) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    else if (eq < 0 && entry) env.set(entry, "");
  }
  for (const [k, v] of Object.entries(jobEnv)) env.set(k, v);
  return env;
}

/** The requirement expressions of a container environment, `NVIDIA_REQUIRE_CUDA` first. */
export function cudaRequirements(env: ReadonlyMap<string, string>): ImageCudaRequirements {
  if (GO_TRUE.has(env.get("NVIDIA_DISABLE_REQUIRE") ?? "")) return { disabled: true, requirements: [] };
  const names = [...env.keys()]
    .filter((k) => k.startsWith(REQUIRE_PREFIX) && !k.startsWith(JETPACK_PREFIX))
    .sort((a, b) => a === "NVIDIA_REQUIRE_CUDA" ? -1 : b === "NVIDIA_REQUIRE_CUDA" ? 1 : a < b ? -1 : a > b ? 1 : 0);
  const requirements = names.map((source) => ({ source, expression: env.get(source)! }));
  const legacy = env.get("CUDA_VERSION") ?? "";
  if (legacy && !env.get("NVIDIA_REQUIRE_CUDA")) {
    const majorMinor = legacyMajorMinor(legacy);
    if (!majorMinor) {
      return { disabled: false, requirements, problem: `CUDA_VERSION=${legacy} is not a version` };
    }
    requirements.push({ source: "CUDA_VERSION", expression: `cuda>=${majorMinor}` });
  }
  return { disabled: false, requirements };
}

/** `major.minor` of a legacy `CUDA_VERSION` (`9.0.176` → `9.0`, `11` → `11.0`), read like a lenient semver. */
function legacyMajorMinor(version: string): string | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z.-]+)?$/.exec(
    version.trim(),
  );
  return m ? `${BigInt(m[1])}.${BigInt(m[2] ?? "0")}` : undefined;
}

/**
 * Compares two dotted versions numerically, component by component, missing components counting as 0: negative,
 * zero or positive; undefined when either is not digits and dots (`12.10` > `12.4`, `535.183.01` > `535`).
 */
export function compareDottedVersions(a: string, b: string): number | undefined {
  const valid = /^\d+(?:\.\d+)*$/;
  if (!valid.test(a) || !valid.test(b)) return undefined;
  const x = a.split(".").map(BigInt), y = b.split(".").map(BigInt);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0n) - (y[i] ?? 0n);
    if (d !== 0n) return d < 0n ? -1 : 1;
  }
  return 0;
}

/** One condition: true or false, or the reason it cannot be evaluated. */
function evaluateCondition(text: string, facts: DriverFacts): boolean | string {
  const m = /^([^<>=!]+)([<>=!]+)(.+)$/.exec(text);
  if (!m || !OPERATORS.has(m[2])) return `"${text}" is not a condition (property, operator, value)`;
  const [, name, op, wanted] = m;
  const property = name.toLowerCase();
  let have: string | null;
  if (property === "cuda") have = facts.cudaVersion;
  else if (property === "driver") have = facts.driverVersion;
  else if (property === "brand" || property === "arch") have = null; // not in nvidia-smi's inventory
  else return `"${name}" in "${text}" is not a property the toolkit knows (cuda, driver, arch, brand)`;
  if (have === null) return true;
  const c = compareDottedVersions(have, wanted);
  if (c === undefined) return `"${text}" does not compare versions (this node has ${property} ${have})`;
  switch (op) {
    case "=":
      return c === 0;
    case "!=":
      return c !== 0;
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    default:
      return c >= 0;
  }
}

/**
 * Evaluates one expression against the driver: alternatives separated by spaces, conditions of an alternative by
 * commas; evaluation stops at the first alternative that holds, and within one at the first condition that fails.
 * `invalid` says why a condition reached on the way cannot be evaluated (the hook's "invalid expression").
 */
export function evaluateRequirement(
  expression: string,
  facts: DriverFacts,
): { ok: boolean; invalid?: string } {
  let held = true;
  for (const term of expression.split(" ")) {
    if (!term) continue;
    let failed = false;
    for (const condition of term.split(",")) {
      if (!condition) continue;
      const r = evaluateCondition(condition, facts);
      if (typeof r === "string") return { ok: false, invalid: r };
      held = r;
      if (!r) {
        failed = true;
        break;
      }
    }
    if (!failed) break;
  }
  return { ok: held };
}

/**
 * Checks the requirements of a container environment (see {@linkcode containerEnv}) against the node's driver.
 * `image` names the image in the message.
 */
export function checkCudaRequirement(
  image: string,
  env: ReadonlyMap<string, string>,
  driver: DriverFacts | undefined,
): CudaCheck {
  const { disabled, requirements, problem } = cudaRequirements(env);
  if (disabled) return { kind: "disabled" };
  if (problem) return { kind: "unchecked", reason: problem, requirements };
  const stated = requirements.filter((r) => r.expression.trim() !== "");
  if (!stated.length) return { kind: "none" };
  if (!driver?.cudaVersion) {
    return {
      kind: "unchecked",
      reason: "the driver's CUDA version is unknown (nvidia-smi did not report it)",
      requirements,
    };
  }
  for (const requirement of stated) {
    const r = evaluateRequirement(requirement.expression, driver);
    if (r.invalid) {
      return { kind: "unchecked", reason: `${requirement.source} cannot be evaluated: ${r.invalid}`, requirements };
    }
    if (!r.ok) {
      return { kind: "unsupported", requirement, message: cudaUnsupportedMessage(image, requirement, driver) };
    }
  }
  return { kind: "satisfied", requirements };
}

/**
 * What a `cuda_unsupported` status says: the image's requirement (the CUDA version it needs, and the driver branches
 * it also accepts), the driver's CUDA and driver versions, and the fix.
 */
export function cudaUnsupportedMessage(image: string, requirement: CudaRequirement, driver: DriverFacts): string {
  const terms = requirement.expression.split(" ").filter(Boolean);
  const minimum = terms.map((t) => /^cuda(>=|>)(\S+)$/i.exec(t)).find((m) => m);
  const from = requirement.source === "CUDA_VERSION" ? "CUDA_VERSION of a legacy image" : requirement.source;
  const cuda = driver.cudaVersion ?? "unknown";
  const version = driver.driverVersion ?? "unknown";
  if (!minimum) {
    const shown = requirement.expression.length > 200
      ? `${requirement.expression.slice(0, 200)}…`
      : requirement.expression;
    return `image ${image} requires ${shown} (${from}); this node's driver ${version} supports CUDA ${cuda}: ` +
      `use an image whose ${requirement.source} this driver meets or update the NVIDIA driver`;
  }
  const branches = driverAlternatives(terms.filter((t) => !/^cuda(>=|>)/i.test(t)));
  const or = branches.length ? ` or a driver of branch ${joinOr(branches)}` : "";
  const op = minimum[1] === ">" ? ">" : ">=";
  return `image ${image} requires CUDA ${op} ${minimum[2]} (${from})${or}; this node's driver supports ` +
    `CUDA ${cuda} (driver ${version}): use an image built for CUDA <= ${cuda} or update the NVIDIA driver`;
}

/** The driver ranges of the alternative terms, each once: `470` for `driver>=470,driver<471`, else the conditions. */
function driverAlternatives(terms: string[]): string[] {
  const out: string[] = [];
  for (const term of terms) {
    const conditions = term.split(",").filter((c) => /^driver[<>=!]/i.test(c));
    if (!conditions.length) continue;
    const lower = conditions.map((c) => /^driver>=(\d+)$/i.exec(c)?.[1]).find((v) => v);
    const upper = conditions.map((c) => /^driver<(\d+)$/i.exec(c)?.[1]).find((v) => v);
    const text = lower && upper && BigInt(upper) === BigInt(lower) + 1n && conditions.length === 2
      ? lower
      : conditions.join(",");
    if (!out.includes(text)) out.push(text);
  }
  return out;
}

function joinOr(items: string[]): string {
  return items.length === 1 ? items[0] : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}
