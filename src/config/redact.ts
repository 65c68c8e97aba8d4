/**
 * How config values are shown: secrets never, URLs without credentials. The same rules say which parts of a value are
 * secrets, for the logger's redactor (`secretsOf`), so what `config` hides is also what log lines hide.
 */
import { REDACTED } from "../log/mod.ts";
import type { VarSpec } from "./spec.ts";

export { REDACTED };

/** A path segment that is an API key rather than a name (`/v1/64a9df08…`). */
const opaque = (seg: string) => /^[A-Za-z0-9_-]{20,}$/.test(seg);

/** Query parameter names whose value is a credential whatever its length. */
const SECRET_KEY = /key|token|secret|pass|auth|sig|cred/i;

/** Whether a part of a (comma-listed) value is a URL. */
const isUrl = (part: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(part);

/** Local paths written as URLs (`unix:///run/docker.sock`): their segments are directory names, never keys. */
const isLocal = (u: URL) => u.protocol === "unix:" || u.protocol === "file:";

/** Removes credentials from a URL: user info, query values and long opaque path segments (API keys). */
export function redactUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return text;
  }
  if (isLocal(u)) return text;
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

/**
 * The credentials a URL carries, in the forms they appear in text: the password and the `user:password` pair (or a
 * lone user name, which is a token: `nats://TOKEN@host`), query values that can be keys (named like one, or 12+
 * characters), and API-key path segments: what {@linkcode redactUrl} hides, but for short plain query values.
 */
export function urlSecrets(text: string): string[] {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return [];
  }
  if (isLocal(u)) return [];
  const both = (encoded: string) => [encoded, safeDecode(encoded)];
  const out: string[] = [];
  if (u.password) out.push(`${u.username}:${u.password}`, ...both(u.password));
  else if (u.username) out.push(...both(u.username));
  for (const raw of u.search.slice(1).split("&")) {
    if (!raw.includes("=")) continue;
    const [key, value] = [raw.slice(0, raw.indexOf("=")), raw.slice(raw.indexOf("=") + 1)];
    // Display hides every query value; log lines hide those that can be keys, not words such as `mainnet`.
    if (value.length >= 12 || (value && SECRET_KEY.test(key))) out.push(value, safeDecode(value.replaceAll("+", " ")));
  }
  out.push(...u.pathname.split("/").filter(opaque));
  return [...new Set(out)];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The parts of a raw value of `spec` that must never be logged: all of a secret, the credentials of any URL in it. */
export function secretsOf(spec: VarSpec, raw: string | undefined): string[] {
  if (raw === undefined || raw === "") return [];
  if (spec.secret) return [raw];
  return raw.split(",").map((part) => part.trim()).filter(isUrl).flatMap(urlSecrets);
}

/** Shows a raw value of `spec` safely. */
export function showRaw(spec: VarSpec, raw: string): string {
  if (spec.secret) return REDACTED;
  return raw.split(",").map((part) => (isUrl(part.trim()) ? redactUrl(part.trim()) : part)).join(",");
}

/** Shows a parsed value of `spec` safely. */
export function showValue(spec: VarSpec, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (spec.secret) return REDACTED;
  if (typeof value === "string") return showRaw(spec, value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === "string" ? showRaw(spec, v) : v));
  return value;
}
