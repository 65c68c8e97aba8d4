/** The agent's version: it lives once, in deno.json. */
import meta from "../deno.json" with { type: "json" };

/** The agent version, e.g. `0.1.0`. */
export const VERSION: string = meta.version;
