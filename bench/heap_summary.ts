/**
 * Where the idle agent's V8 heap is, from a heap snapshot (`Inspector.heapSnapshot()`): self sizes by node type, the
 * strings split into what holds them (module sources, the source-map URLs V8 keeps beside a module that has an inline
 * map, Deno's own JavaScript, the rest), and the largest module sources by their first characters.
 */

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The summary {@linkcode heapSummary} returns; sizes in bytes. */
export interface HeapSummary {
  total: number;
  byType: [string, number][];
  strings: { moduleSources: number; runtimeSources: number; sourceMapUrls: number; other: number; modules: number };
  largestSources: [string, number][];
}

/** Deno's own modules: its snapshot's wrapped scripts, or modules importing `ext:` specifiers. */
function isRuntimeSource(text: string): boolean {
  return text.startsWith('"use strict"; return') || /from\s*"ext:/.test(text.slice(0, 2000));
}

/**
 * A string of at least 1 KiB that reads as JavaScript: a module's source. (V8 links eval'd scripts to their sources in
 * the snapshot, not every module, so size and content decide.)
 */
function looksLikeCode(text: string): boolean {
  return !text.startsWith("data:") && /\b(import|export|function|const|return)\b/.test(text.slice(0, 4096));
}

/** Summarizes a parsed `.heapsnapshot`. */
export function heapSummary(raw: unknown, top = 12): HeapSummary {
  const snap = raw as Snapshot;
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields, ef = meta.edge_fields;
  const types = meta.node_types[0], edgeTypes = meta.edge_types[0];
  const N = nf.length, E = ef.length;
  const T = nf.indexOf("type"), NAME = nf.indexOf("name"), SIZE = nf.indexOf("self_size");
  const EC = nf.indexOf("edge_count"), ET = ef.indexOf("type"), EN = ef.indexOf("name_or_index");
  const TO = ef.indexOf("to_node");
  const { nodes, edges, strings } = snap;
  // A script's `source` edge names its source string (eval'd and generated functions; modules are found by content).
  const sources = new Set<number>();
  for (let i = 0, e = 0; i < nodes.length; i += N) {
    const count = nodes[i + EC];
    if (strings[nodes[i + NAME]] === "system / Script") {
      for (let k = 0; k < count; k++) {
        const b = e + k * E;
        const kind = edgeTypes[edges[b + ET]];
        if (kind !== "element" && kind !== "hidden" && strings[edges[b + EN]] === "source") sources.add(edges[b + TO]);
      }
    }
    e += count * E;
  }
  const byType = new Map<string, number>();
  const str = { moduleSources: 0, runtimeSources: 0, sourceMapUrls: 0, other: 0, modules: 0 };
  const largest: [string, number][] = [];
  let total = 0;
  for (let i = 0; i < nodes.length; i += N) {
    const type = types[nodes[i + T]], size = nodes[i + SIZE];
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    if (!type.includes("string")) continue;
    const text = strings[nodes[i + NAME]];
    if (sources.has(i) || (size >= 1024 && looksLikeCode(text))) {
      if (isRuntimeSource(text)) str.runtimeSources += size;
      else {
        str.moduleSources += size;
        str.modules++;
        largest.push([text.slice(0, 60).replace(/\s+/g, " "), size]);
      }
    } else if (text.startsWith("data:application/json")) str.sourceMapUrls += size;
    else str.other += size;
  }
  return {
    total,
    byType: [...byType].sort((a, b) => b[1] - a[1]),
    strings: str,
    largestSources: largest.sort((a, b) => b[1] - a[1]).slice(0, top),
  };
}

/** The summary as lines for the terminal (MiB). */
export function formatHeapSummary(s: HeapSummary): string[] {
  const mib = (n: number) => (n / 1048576).toFixed(2).padStart(6);
  return [
    `heap snapshot: ${mib(s.total)} MiB in all`,
    ...s.byType.filter(([, n]) => n >= 10_000).map(([t, n]) => `  ${mib(n)}  ${t}`),
    "strings:",
    `  ${mib(s.strings.moduleSources)}  module sources (${s.strings.modules})`,
    `  ${mib(s.strings.sourceMapUrls)}  inline source-map URLs`,
    `  ${mib(s.strings.runtimeSources)}  Deno's own JavaScript`,
    `  ${mib(s.strings.other)}  other strings`,
    "largest module sources:",
    ...s.largestSources.map(([head, n]) => `  ${mib(n)}  ${head}`),
  ];
}
