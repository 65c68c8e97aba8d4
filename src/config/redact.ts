/** How config values are shown: secrets never, URLs without credentials. */
import type { VarSpec } from "./spec.ts";

/** What a secret is shown as. */
export const REDACTED = "[REDACTED]";

/** Removes credentials from a URL: user info, query values and long opaque path segments (API keys). */
export function redactUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return text;
  }
  const opaque = (seg: string) => /^[A-Za-z0-9_-]{20,}$/.test(seg);
  const segments = u.pathname.split("/");
  if (!u.username && !u.password && !u.search && !segments.some(opaque)) return text;
  if (u.username || u.password) {
    u.username = u.username ? "***" : "";
    u.password = u.password ? "***" : "";
  }
  for (const key of [...u.searchParams.keys()]) u.searchParams.set(key, "***");
  u.pathname = segments.map((seg) => (opaque(seg) ? "***" : seg)).join("/");
  return u.toString().replaceAll("%2A", "*");
}

/** Shows a raw value of `spec` safely. */
export function showRaw(spec: VarSpec, raw: string): string {
  if (spec.secret) return REDACTED;
  return raw.split(",").map((part) => (/^[a-z]+:\/\//i.test(part.trim()) ? redactUrl(part.trim()) : part)).join(",");
}

/** Shows a parsed value of `spec` safely. */
export function showValue(spec: VarSpec, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (spec.secret) return REDACTED;
  if (typeof value === "string") return showRaw(spec, value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === "string" ? showRaw(spec, v) : v));
  return value;
}
