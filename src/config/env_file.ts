/** `.env` parsing with line numbers: dotenv reads the values, this file reports malformed lines. */
import { parse } from "dotenv";

/** One variable read from a `.env` file, with the line it came from. */
export interface EnvFileEntry {
  value: string;
  line: number;
}

/** A malformed line in a `.env` file. */
export interface EnvFileProblem {
  line: number;
  message: string;
}

/** The parsed content of a `.env` file. */
export interface EnvFile {
  path: string;
  entries: Map<string, EnvFileEntry>;
  problems: EnvFileProblem[];
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;

/**
 * Parses the text of a `.env` file. Values are decoded by dotenv (quotes, escapes, multi-line quoted values);
 * lines that dotenv would silently skip are returned as problems with their line number.
 */
export function parseEnvFile(path: string, text: string): EnvFile {
  const values = parse(text);
  const entries = new Map<string, EnvFileEntry>();
  const problems: EnvFileProblem[] = [];
  const lines = text.split(/\r?\n/);
  let openQuote: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (openQuote) {
      if (line.includes(openQuote)) openQuote = undefined;
      continue;
    }
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const m = ASSIGNMENT.exec(line);
    if (!m) {
      problems.push({ line: i + 1, message: `expected KEY=value, got ${JSON.stringify(preview(trimmed))}` });
      continue;
    }
    const [, key, rest] = m;
    const quote = rest[0];
    if ((quote === '"' || quote === "'" || quote === "`") && !rest.slice(1).includes(quote)) openQuote = quote;
    if (key in values) entries.set(key, { value: values[key], line: i + 1 });
  }
  if (openQuote) problems.push({ line: lines.length, message: `unterminated ${openQuote} quoted value` });
  return { path, entries, problems };
}

// Never echo a whole malformed line: it may be a secret pasted without its KEY=.
function preview(text: string): string {
  return text.length > 12 ? `${text.slice(0, 6)}…` : text.replace(/[^=\s#]/g, (c, i) => (i < 3 ? c : "*"));
}
