/**
 * A real headless browser for page tests: Debian's `chromium --headless`, run once per call, dumping the DOM after
 * the page's scripts ran (virtual time lets its timers fire quickly) or taking a screenshot.
 */
import { parseHTML } from "linkedom";
import { which } from "./service.ts";

/** Why Chromium cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return chromiumPath() ? undefined : "chromium is not installed (apt-get install -y chromium)";
}

function chromiumPath(): string | undefined {
  return Deno.env.get("CHROMIUM") ?? which("chromium") ?? which("chromium-browser");
}

/** Options of {@linkcode dumpDom} and {@linkcode screenshot}. */
export interface BrowserOptions {
  /** Virtual time the page gets before the dump: its timers (refreshes) run in it. Default 1000 ms. */
  virtualTimeMs?: number;
  /** Wall-clock limit of the browser process. Default 60 s. */
  timeoutMs?: number;
}

async function runChromium(args: string[], options: BrowserOptions): Promise<string> {
  const path = chromiumPath();
  if (!path) throw new Error(chromiumMissing());
  const profile = await Deno.makeTempDir({ prefix: "lamda-chromium-" });
  try {
    const child = new Deno.Command(path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        `--virtual-time-budget=${options.virtualTimeMs ?? 1000}`,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { HOME: profile },
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
    }, options.timeoutMs ?? 60_000);
    const out = await child.output().finally(() => clearTimeout(timer));
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-10).join("\n");
      throw new Error(`chromium exited with ${out.code}: ${stderr}`);
    }
    return stdout;
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** The page's DOM (`document.documentElement.outerHTML`) after its scripts ran for `virtualTimeMs`. */
export function dumpDom(url: string, options: BrowserOptions = {}): Promise<string> {
  return runChromium(["--dump-dom", url], options);
}

/** Writes a PNG screenshot of the page `width`×`height` to `path`. */
export async function screenshot(
  url: string,
  path: string,
  size: { width: number; height: number },
  options: BrowserOptions = {},
): Promise<void> {
  await runChromium([`--screenshot=${path}`, `--window-size=${size.width},${size.height}`, url], options);
  const st = await Deno.stat(path).catch(() => undefined);
  if (!st?.isFile) throw new Error(`chromium wrote no screenshot to ${path}`);
}

/** Width and height from a PNG's IHDR chunk; throws when the bytes are not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || signature.some((b, i) => bytes[i] !== b)) throw new Error("not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (new TextDecoder().decode(bytes.subarray(12, 16)) !== "IHDR") throw new Error("PNG without IHDR first");
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The part of a parsed element the tests read (the project type-checks without the DOM library). */
export interface DomNode {
  readonly textContent: string | null;
  readonly tagName: string;
  getAttribute(name: string): string | null;
  querySelector(selector: string): DomNode | null;
  querySelectorAll(selector: string): Iterable<DomNode> & { length: number };
}

/** A parsed page: the document's queries. */
export interface DomDocument {
  readonly title: string;
  getElementById(id: string): DomNode | null;
  querySelector(selector: string): DomNode | null;
  querySelectorAll(selector: string): Iterable<DomNode> & { length: number };
}

/** Parses a DOM the browser dumped, for queries. */
export function parseDom(dom: string): DomDocument {
  return (parseHTML(dom) as unknown as { document: DomDocument }).document;
}
