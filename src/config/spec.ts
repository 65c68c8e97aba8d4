/** How one configuration variable is declared: name, parser, default, documentation and secrecy. */
import { z } from "zod";
import { formatBytes } from "../log/mod.ts";
import { formatDuration, parseDuration } from "./duration.ts";

/** One configuration variable. `T` is the parsed type; `D` says whether a default makes it always present. */
export interface VarSpec<T = unknown, D extends boolean = boolean> {
  /** Environment variable name, e.g. `HEARTBEAT_INTERVAL`. */
  env: string;
  /** Parses the raw string. Its error messages are shown to operators. */
  schema: z.ZodType<T, string>;
  /** Raw default string, parsed like any other value; documented in README and `.env.example`. */
  default?: string;
  /** Whether a default exists (the type-level twin of `default`). */
  hasDefault: D;
  /** Secret values are never printed, logged or echoed in errors. */
  secret: boolean;
  /** A valid example value (quoted in error messages). */
  example: string;
  /** One-line documentation. */
  doc: string;
  /** README section the variable belongs to. */
  group: string;
  /** When true, an empty value is a value (passed to the schema) rather than "unset". */
  emptyIsValue?: boolean;
  /** A filesystem path the config holds resolved against the working directory at load time. */
  absolutePath?: boolean;
}

/** Declares a variable with a default: always present in the config. */
export function withDefault<T>(
  spec: Omit<VarSpec<T, true>, "hasDefault" | "secret" | "default"> & { default: string; secret?: boolean },
): VarSpec<T, true> {
  return { ...spec, secret: spec.secret ?? false, hasDefault: true };
}

/** Declares an optional variable: `undefined` when unset (or set to the empty string). */
export function optional<T>(
  spec: Omit<VarSpec<T, false>, "hasDefault" | "secret" | "default"> & { secret?: boolean },
): VarSpec<T, false> {
  return { ...spec, secret: spec.secret ?? false, hasDefault: false };
}

/** The parsed config type for a record of variable specs. */
export type ConfigOf<V extends Record<string, VarSpec>> = {
  readonly [K in keyof V]: V[K] extends VarSpec<infer T, true> ? T
    : V[K] extends VarSpec<infer T, false> ? T | undefined
    : never;
};

// ---- Reusable schemas (all take the raw string) ----

/** A Go-style duration, parsed to milliseconds. */
export const duration = (opts: { min?: number; max?: number } = {}): z.ZodType<number, string> =>
  z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: "is not a duration (Go-style: 30s, 5m, 1h30m, 250ms)" });
      return z.NEVER;
    }
    if (opts.min !== undefined && ms < opts.min) {
      ctx.addIssue({ code: "custom", message: `must be at least ${formatDuration(opts.min)}` });
      return z.NEVER;
    }
    if (opts.max !== undefined && ms > opts.max) {
      ctx.addIssue({ code: "custom", message: `must be at most ${formatDuration(opts.max)}` });
      return z.NEVER;
    }
    return ms;
  });

/** An integer in `[min, max]`. */
export const integer = (min: number, max = Number.MAX_SAFE_INTEGER): z.ZodType<number, string> =>
  z.string().trim().regex(/^-?\d+$/, "is not an integer").transform(Number).pipe(
    z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`),
  );

/** A size with an optional binary unit (`512`, `64k`, `100MiB`, `2GiB`), parsed to bytes. */
export const byteSize = (min = 0): z.ZodType<number, string> =>
  z.string().transform((s, ctx) => {
    const bytes = parseByteSize(s);
    if (bytes === undefined) {
      ctx.addIssue({ code: "custom", message: "is not a size (e.g. 512MiB, 2GiB, 1048576)" });
      return z.NEVER;
    }
    if (bytes < min) {
      ctx.addIssue({ code: "custom", message: `must be at least ${sizeText(min)}` });
      return z.NEVER;
    }
    return bytes;
  });

function parseByteSize(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i.exec(s);
  if (!m) return undefined;
  const unit = (m[2] ?? "b").toLowerCase()[0];
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit]!;
  return Math.round(Number(m[1]) * mult);
}

/** A size for a message, in binary units and exact: `1 MiB`, `256 B`, `1.5 GiB`; bytes added when rounded. */
function sizeText(bytes: number): string {
  const short = formatBytes(bytes).replace(/\.0 /, " ");
  return parseByteSize(short) === bytes ? short : `${short} (${bytes} bytes)`;
}

/** `true/false/1/0/yes/no/on/off`. */
export const boolean = (): z.ZodType<boolean, string> =>
  z.string().trim().toLowerCase().transform((s, ctx) => {
    if (["true", "1", "yes", "on"].includes(s)) return true;
    if (["false", "0", "no", "off"].includes(s)) return false;
    ctx.addIssue({ code: "custom", message: "is not a boolean (true or false)" });
    return z.NEVER;
  });

/** One of a fixed set of words. */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T): z.ZodType<T[number], string> =>
  z.string().trim().pipe(z.enum(values, { error: `must be one of ${values.join(", ")}` }));

/** A comma-separated list, each item parsed by `item`; empty items dropped. */
export const list = <T>(item: z.ZodType<T, string>, opts: { min?: number } = {}): z.ZodType<T[], string> =>
  z.string().transform((s) => s.split(",").map((x) => x.trim()).filter((x) => x !== "")).pipe(
    z.array(item).min(opts.min ?? 0, `needs at least ${opts.min} item(s)`),
  );

/** A URL whose scheme is one of `schemes`. */
export const url = (schemes: string[]): z.ZodType<string, string> =>
  z.string().trim().refine((s) => {
    try {
      return schemes.includes(new URL(s).protocol.replace(/:$/, ""));
    } catch {
      return false;
    }
  }, `is not a ${schemes.join("/")} URL`);

/** Empty, or a string `parse` accepts (it throws on anything else); `message` says what it is not. */
export const emptyOr = (parse: (s: string) => unknown, message: string): z.ZodType<string, string> =>
  z.string().trim().refine((s) => {
    if (s === "") return true;
    try {
      parse(s);
      return true;
    } catch {
      return false;
    }
  }, message);

/** An EVM address (any case), returned as given. */
export const address = (): z.ZodType<string, string> =>
  z.string().trim().regex(/^0x[0-9a-fA-F]{40}$/, "is not an address (0x followed by 40 hex digits)");

/** A non-empty string. */
export const text = (): z.ZodType<string, string> => z.string().min(1, "must not be empty");

/** An absolute or relative filesystem path (not checked for existence here: loading config is pure). */
export const path = (): z.ZodType<string, string> => z.string().trim().min(1, "must not be empty");
