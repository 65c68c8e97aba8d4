/** Docker image references (distribution/reference grammar), parsed strictly before anything reaches Docker. */
import { InvalidJobSpecError } from "./rules.ts";

/** A parsed image reference. */
export interface ImageReference {
  /** Registry host[:port] when the reference names one (e.g. `ghcr.io`, `localhost:5000`). */
  registry?: string;
  /** Repository path, lowercase, e.g. `library/busybox` or `org/model`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
  /** The reference as sent to Docker: `[registry/]repository[:tag][@digest]`, `:latest` added when neither is given. */
  canonical: string;
}

const MAX_NAME_LENGTH = 255;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Parses `ref`; anything outside the grammar (metacharacters, uppercase repository, spaces, empty) throws. */
export function parseImageReference(ref: string): ImageReference {
  const bad = (why: string) =>
    new InvalidJobSpecError("image_name", `image reference ${JSON.stringify(String(ref).slice(0, 300))} ${why}`);
  if (typeof ref !== "string" || ref === "") throw bad("must not be empty");
  if (ref.length > 512) throw bad("is longer than 512 characters");
  if (/[^A-Za-z0-9._:@/\-[\]]/.test(ref)) {
    throw bad("contains characters outside the reference grammar (letters, digits, . _ - / : @ only)");
  }
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad("has an invalid digest (expected sha256: followed by 64 lowercase hex digits)");
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad("has an invalid tag (1-128 of letters, digits, _ . -; not starting with . or -)");
  }
  if (rest === "") throw bad("has no repository name");
  if (rest.length > MAX_NAME_LENGTH) throw bad(`has a name longer than ${MAX_NAME_LENGTH} characters`);
  const parts = rest.split("/");
  let registry: string | undefined;
  // Like Docker: the first component is a registry only if it looks like a host (has "." or ":", or is localhost).
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === "localhost")) {
    registry = parts.shift()!;
    if (!DOMAIN.test(registry)) throw bad(`has an invalid registry host ${JSON.stringify(registry)}`);
  }
  for (const p of parts) {
    if (p === "") throw bad("has an empty path component");
    if (p !== p.toLowerCase()) throw bad("has an uppercase repository name (repository names must be lowercase)");
    if (!PATH_COMPONENT.test(p)) {
      throw bad(
        `has an invalid path component ${JSON.stringify(p)} (lowercase letters and digits, separated by . _ __ -)`,
      );
    }
  }
  const repository = parts.join("/");
  const name = registry ? `${registry}/${repository}` : repository;
  const canonical = name + (tag ? `:${tag}` : digest ? "" : ":latest") + (digest ? `@${digest}` : "");
  return { registry, repository, tag, digest, canonical };
}

/** The fully qualified name Docker resolves to, e.g. `busybox` → `docker.io/library/busybox` (for allowlists). */
export function qualifiedName(ref: ImageReference): string {
  const registry = ref.registry ?? "docker.io";
  const repo = registry === "docker.io" && !ref.repository.includes("/") ? `library/${ref.repository}` : ref.repository;
  return `${registry}/${repo}`;
}
