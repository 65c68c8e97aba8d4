/**
 * The one rule for names of files and directories moved through IPFS, inputs and outputs alike: a name either travels
 * intact (written to disk, carried in a multipart upload, rebuilt by the service, read back as the same bytes) or is
 * refused with the reason. One list, so that a job's output can always be the next job's input.
 *
 * Why these and no others:
 * - `/`, empty, `.`, `..`: not a single path component.
 * - Control characters (U+0000–U+001F, U+007F): NUL cannot be in a path; CR and LF are escaped in multipart headers
 *   (`%0D`, `%0A`) and many parsers do not decode them; none of them is a name a person can read or type.
 * - U+FFFD: Deno lists directories with names decoded lossily, so a name that is not valid UTF-8 arrives with U+FFFD
 *   where its bytes were, and the bytes cannot be recovered (nor the file opened). A valid name that really contains
 *   U+FFFD cannot be told apart and is refused with them.
 * - `%22`, `%0A`, `%0D` (any case): multipart senders write `"`, LF and CR as these sequences without escaping `%`
 *   (WHATWG HTML, "multipart/form-data encoding algorithm"), so a parser that decodes them would turn a literal `%22`
 *   into a quote. Every other `%` is literal for every parser and is carried.
 * - More than 255 bytes (UTF-8): over Linux's NAME_MAX, the file could not be created.
 * Everything else is carried, `"` and `\` included (sent as browsers send them: `"` as `%22`, `\` as it is).
 */

const encoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const DECODED_ESCAPE = /%(22|0a|0d)/i;

/** The reason `name` cannot travel, or undefined when it can. */
export function entryNameProblem(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return "is not a file name";
  if (name.includes("/")) return "contains '/' (not a single path component)";
  const control = CONTROL.exec(name);
  if (control) return `contains the control character ${codePoint(control[0])}`;
  if (name.includes("\ufffd")) return "is not valid UTF-8 (or contains U+FFFD)";
  const escape = DECODED_ESCAPE.exec(name);
  if (escape) return `contains ${escape[0]}, which multipart parsers decode to ${escapeMeaning(escape[1])}`;
  const bytes = encoder.encode(name).byteLength;
  if (bytes > 255) return `is ${bytes} bytes long (at most 255)`;
  return undefined;
}

/**
 * Paths whose names some multipart parsers read differently from what browsers (and this agent) send: `"` (sent as
 * `%22`; busboy and Deno's `formData()` keep `%22`), two backslashes or a final one (read as quoted-pair escapes by
 * RFC 2616-style parsers such as busboy), `;` and `=` (Deno's `formData()` cuts the name there). Named in a CID
 * mismatch, where they are the likely cause.
 */
export function parserSensitivePaths(paths: string[]): string[] {
  return paths.filter((p) => /[";=]|\\\\|\\$/.test(p));
}

/** A name (or path) as a quoted string safe for logs and messages: control characters and U+FFFD written as escapes. */
export function describeName(name: string, max = 120): string {
  const cut = name.length > max ? `${name.slice(0, max)}…` : name;
  return JSON.stringify(cut).replace(/[\u007f\ufffd]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function codePoint(c: string): string {
  return `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

function escapeMeaning(hex: string): string {
  return hex === "22" ? "a double quote" : "a line break";
}
