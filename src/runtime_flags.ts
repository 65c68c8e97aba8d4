/**
 * V8 flags the daemon runs with (`deno task start`, the compiled binary, `deno task dev`, the tests' agent): the young
 * generation capped at 1 MiB semi-spaces. V8's default lets it grow to 16 MiB semi-spaces under the steady trickle of
 * short-lived objects a job leaves behind, which showed as 110 → 180 MB RSS over 100 trivial jobs with no live data
 * to show for it; with the cap the agent stays near its idle size (95 → 107 MB) at the same CPU per job
 * (docs/performance.md).
 */
export const AGENT_V8_FLAGS = "--max-semi-space-size=1";

/** The `deno run`/`deno compile` argument that applies {@linkcode AGENT_V8_FLAGS}. */
export const AGENT_V8_FLAGS_ARG = `--v8-flags=${AGENT_V8_FLAGS}`;
