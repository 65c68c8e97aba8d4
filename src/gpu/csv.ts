/** Reading `nvidia-smi --format=csv,noheader,nounits` output: lines, fields and unavailable values. */

/** Values nvidia-smi prints instead of a reading: `[N/A]`, `N/A`, `[Not Supported]`, `[Unknown Error]`, … */
export function isUnavailable(value: string): boolean {
  const v = value.trim();
  if (v === "" || /^\[.*\]$/.test(v)) return true;
  return /^(n\/a|not supported|unknown error|not available|unknown)$/i.test(v);
}

/**
 * Splits CSV output into rows of `width` trimmed fields. nvidia-smi does not quote, so a stray comma can only come from
 * free text: extra fields are folded back into the column at `textColumn` (the GPU name). Blank lines are skipped.
 * Throws a `SyntaxError` naming the line when a row is too short.
 */
export function parseCsvRows(output: string, width: number, textColumn?: number): string[][] {
  const rows: string[][] = [];
  const lines = output.replace(/\r/g, "").split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let fields = line.split(",").map((f) => f.trim());
    if (fields.length > width && textColumn !== undefined) {
      const extra = fields.length - width;
      const merged = fields.slice(textColumn, textColumn + extra + 1).join(", ");
      fields = [...fields.slice(0, textColumn), merged, ...fields.slice(textColumn + extra + 1)];
    }
    if (fields.length !== width) {
      throw new SyntaxError(`Cannot parse nvidia-smi line ${i + 1}: expected ${width} fields, got ${fields.length}`);
    }
    rows.push(fields);
  });
  return rows;
}

/** A number, tolerating a unit left in by drivers that ignore `nounits` (`69.85 W`, `0 %`, `81559 MiB`); null if N/A. */
export function parseNumber(value: string): number | null {
  if (isUnavailable(value)) return null;
  const m = /^(-?\d+(?:\.\d+)?)\s*(?:%|W|MiB|C)?$/.exec(value.trim());
  return m ? Number(m[1]) : Number.NaN;
}
