/** The pure configuration loader: `.env` text + environment + flags → one validated config, or every error at once. */
import { resolve } from "node:path";
import type { EnvFile } from "./env_file.ts";
import { type Config, type ConfigKey, varList } from "./schema.ts";
import { showRaw } from "./redact.ts";

/** Where a value came from. */
export type Source =
  | { kind: "default" }
  | { kind: "env-file"; path: string; line: number }
  | { kind: "environment" }
  | { kind: "flag"; flag: string };

/** The inputs of {@linkcode loadConfig}. Reading files and the environment is the caller's job. */
export interface ConfigInputs {
  /** The process environment (only variables the schema knows are read). */
  env?: Record<string, string | undefined>;
  /** The parsed `.env` file, if one exists. */
  envFile?: EnvFile;
  /** Values from CLI flags, keyed by variable name (`LOG_LEVEL`). */
  flags?: Record<string, string>;
  /** Directory that relative paths of variables declared `absolutePath` are resolved against (default: the cwd). */
  cwd?: string;
}

/** One problem with one variable. */
export interface ConfigIssue {
  variable: string;
  /** The raw value, already redacted when secret; undefined when the variable was missing. */
  value?: string;
  message: string;
  example?: string;
  source?: Source;
}

/** Configuration could not be loaded; `issues` lists every problem found. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(formatIssues(issues));
    this.issues = issues;
  }
}

/** A loaded config and where each value came from. */
export interface LoadedConfig {
  config: Config;
  sources: Record<ConfigKey, Source>;
  /** The raw strings before parsing (defaults included); undefined when unset. Secrets included: show with `showRaw`. */
  raw: Record<ConfigKey, string | undefined>;
  /** The `.env` file that was read, if any. */
  envFile?: EnvFile;
}

/** Loads and validates configuration. Precedence: flags > environment > `.env` > defaults. Throws {@linkcode ConfigError}. */
export function loadConfig(inputs: ConfigInputs = {}): LoadedConfig {
  const issues: ConfigIssue[] = [];
  // The .env line an issue is about: problems are listed in file order, the rest after them in schema order.
  const lineOf = new Map<ConfigIssue, number>();
  for (const p of inputs.envFile?.problems ?? []) {
    const issue = {
      variable: `${inputs.envFile!.path}:${p.line}`,
      message: `malformed line: ${p.message}`,
      example: "KEY=value",
    };
    issues.push(issue);
    lineOf.set(issue, p.line);
  }
  const config: Record<string, unknown> = {};
  const sources: Record<string, Source> = {};
  const raws: Record<string, string | undefined> = {};
  for (const [key, spec] of varList()) {
    let raw: string | undefined;
    let source: Source = { kind: "default" };
    const flag = inputs.flags?.[spec.env];
    const env = inputs.env?.[spec.env];
    const file = inputs.envFile?.entries.get(spec.env);
    if (flag !== undefined) [raw, source] = [flag, { kind: "flag", flag: spec.env }];
    else if (env !== undefined) [raw, source] = [env, { kind: "environment" }];
    else if (file !== undefined) {
      [raw, source] = [file.value, { kind: "env-file", path: inputs.envFile!.path, line: file.line }];
    }
    // An empty value means "unset", so `FOO=` in .env does not defeat a default.
    if (raw === undefined || (raw.trim() === "" && !spec.emptyIsValue)) {
      raw = spec.default;
      source = { kind: "default" };
    }
    sources[key] = source;
    raws[key] = raw;
    if (raw === undefined) {
      config[key] = undefined;
      continue;
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) {
      // Paths handed to other processes (Docker bind mounts) must not depend on where those resolve them.
      config[key] = spec.absolutePath && typeof parsed.data === "string"
        ? resolve(inputs.cwd ?? Deno.cwd(), parsed.data)
        : parsed.data;
    } else {
      const issue = {
        variable: spec.env,
        value: showRaw(spec, raw),
        message: parsed.error.issues.map((i) => i.message).join("; "),
        example: spec.example,
        source,
      };
      issues.push(issue);
      if (source.kind === "env-file") lineOf.set(issue, source.line);
    }
  }
  for (const check of RELATIONS) {
    const issue = check(config as Config, raws as Record<ConfigKey, string | undefined>);
    if (issue) issues.push(issue);
  }
  if (issues.length) {
    const line = (i: ConfigIssue) => lineOf.get(i) ?? Number.MAX_SAFE_INTEGER;
    throw new ConfigError(issues.toSorted((a, b) => line(a) - line(b)));
  }
  return {
    config: config as Config,
    sources: sources as Record<ConfigKey, Source>,
    raw: raws as Record<ConfigKey, string | undefined>,
    envFile: inputs.envFile,
  };
}

/** Rules between two variables, checked once each parses on its own. */
const RELATIONS: ((config: Config, raw: Record<ConfigKey, string | undefined>) => ConfigIssue | undefined)[] = [
  (c, raw) =>
    c.imageGcLowPercent !== undefined && c.imageGcHighPercent !== undefined &&
      c.imageGcLowPercent >= c.imageGcHighPercent
      ? {
        variable: "IMAGE_GC_LOW_PERCENT",
        value: raw.imageGcLowPercent ?? String(c.imageGcLowPercent),
        message: `must be below IMAGE_GC_HIGH_PERCENT (${c.imageGcHighPercent})`,
        example: String(Math.max(0, c.imageGcHighPercent - 5)),
      }
      : undefined,
];

/** Describes a source for people: `default`, `.env:3`, `environment`, `flag --log-level`. */
export function describeSource(source: Source): string {
  switch (source.kind) {
    case "default":
      return "default";
    case "env-file":
      return `${source.path}:${source.line}`;
    case "environment":
      return "environment";
    case "flag":
      return `flag --${source.flag.toLowerCase().replaceAll("_", "-")}`;
  }
}

function formatIssues(issues: ConfigIssue[]): string {
  const lines = issues.map((i) => {
    const value = i.value === undefined ? "" : ` ${JSON.stringify(i.value)}`;
    const from = i.source && i.source.kind !== "default" ? ` (from ${describeSource(i.source)})` : "";
    const fix = i.example ? ` — e.g. ${i.variable.includes(":") ? "" : i.variable + "="}${i.example}` : "";
    return `  ${i.variable}:${value} ${i.message}${from}${fix}`;
  });
  return `Invalid configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${lines.join("\n")}`;
}

/** Reports every missing variable at once, as a {@linkcode ConfigError}; `need` maps a variable name to why it is needed. */
export function requireVars(config: Config, need: Partial<Record<ConfigKey, string>>): void {
  const issues: ConfigIssue[] = [];
  for (const [key, why] of Object.entries(need) as [ConfigKey, string][]) {
    if (config[key] === undefined) {
      const spec = varList().find(([k]) => k === key)![1];
      issues.push({ variable: spec.env, message: `is required ${why}`, example: spec.example });
    }
  }
  if (issues.length) throw new ConfigError(issues);
}
