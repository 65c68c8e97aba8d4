/**
 * V8 flags the daemon runs with (part of {@linkcode AGENT_RUNTIME_FLAGS}):
 *
 * - `--max-semi-space-size=1`: the young generation capped at 1 MiB semi-spaces. V8's default lets it grow to 16 MiB
 *   semi-spaces under the steady trickle of short-lived objects a job leaves behind, which showed as 110 → 180 MB RSS
 *   over 100 trivial jobs with no live data to show for it; with the cap the agent stays near its idle size (95 → 107
 *   MB) at the same CPU per job.
 * - `--no-opt`: no TurboFan, V8's top tier (Sparkplug and Maglev still compile what is hot). The daemon's JavaScript
 *   is glue between sockets, SQLite, Docker and native hashing: without TurboFan the idle agent holds 88–90 MB instead
 *   of 91–93, while a 256 MiB verified download (0.38–0.41 s), jobs per second and CPU per job measured the same.
 *
 * Both in docs/performance.md.
 */
export const AGENT_V8_FLAGS = "--max-semi-space-size=1,--no-opt";

/** The `deno run`/`deno compile` argument that applies {@linkcode AGENT_V8_FLAGS}. */
export const AGENT_V8_FLAGS_ARG = `--v8-flags=${AGENT_V8_FLAGS}`;

/**
 * Every runtime flag the daemon runs with (`deno task start`, the compiled binary, `deno task dev`, the tests' agent):
 * {@linkcode AGENT_V8_FLAGS_ARG}, and `--no-code-cache`. Deno's V8 code cache makes a start about 80 ms faster and costs
 * the long-running daemon 3–6 MB of RSS for as long as it runs: the cache database stays mapped (3.4 MB of it resident)
 * and the code read from it is kept whether the daemon ever runs it or not (docs/performance.md#where-a-target-is-missed).
 */
export const AGENT_RUNTIME_FLAGS: readonly string[] = ["--no-code-cache", AGENT_V8_FLAGS_ARG];

/**
 * Environment every `deno run` of the daemon gets (`deno task start`, `deno task dev`, the bundle's documented command,
 * the tests' agent): `DENO_NO_UPDATE_CHECK=1`. Without it Deno's CLI asks `dl.deno.land` for a newer Deno a moment after
 * every start (DNS, then HTTPS through any `HTTPS_PROXY`), outside the permission set (`--allow-net` does not cover its
 * own requests): a daemon on a host with filtered egress must not reach for a host it was never told about. The
 * compiled binary's runtime has no upgrade check.
 */
export const AGENT_RUNTIME_ENV: Readonly<Record<string, string>> = { DENO_NO_UPDATE_CHECK: "1" };
