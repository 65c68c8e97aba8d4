/** Runs a created container to its end: start, logs, wait under the time limit, stop with grace, classify, remove. */
import { settleWithin, sleep, timeoutSignal } from "../timers.ts";
import type { StepTimes } from "../timing.ts";
import type { Logger } from "../log/mod.ts";
import { type DockerClient, DockerError } from "./client.ts";
import { demultiplex, type LogStream, TailBuffer } from "./log_demux.ts";
import { classifyOutcome, type ContainerOutcome, type EndFacts } from "./outcome.ts";
import type { StatusMessageOptions } from "./status_message.ts";

/** Options of {@linkcode superviseContainer}. */
export interface SuperviseOptions {
  /** Where the container's time goes, step by step. */
  times?: StepTimes;
  /**
   * Return as soon as the outcome is known and remove the container meanwhile (`outcome.removed` settles when it is
   * gone), so the removal overlaps the output upload; await `removed` before releasing what the container mounts.
   */
  deferRemove?: boolean;
  /** Time limit counted from `startedAt`. */
  timeoutMs: number;
  /** When the container started (ms since epoch); now when the call starts it. */
  startedAt?: number;
  stopGraceMs: number;
  /** Start the container first (false when re-attaching to a running one). */
  start: boolean;
  /** Only the last lines of earlier output are read (re-attach after a restart). */
  logTailLines?: number;
  logMaxBytes: number;
  tailBytes: number;
  logger: Logger;
  /** Paths a failure message may name (the job's `output_path` and command); other absolute paths are hidden. */
  statusPaths?: StatusMessageOptions;
  /** Every output line, e.g. for tests or a live view. */
  onLine?: (stream: LogStream, line: string) => void;
  signal?: AbortSignal;
}

/** How an abort reason maps to a reason code: the job component's `JobAbort` carries `reason`. */
export function abortKind(signal?: AbortSignal): "cancelled" | "agent_shutdown" {
  const reason = signal?.reason as { reason?: unknown } | undefined;
  return reason?.reason === "agent_shutdown" ? "agent_shutdown" : "cancelled";
}

/** Removes a container and its anonymous volumes; a container already gone is fine. */
export async function removeContainer(docker: DockerClient, id: string, logger?: Logger): Promise<void> {
  for (let i = 0; i < 3; i++) {
    try {
      await docker.send("DELETE", `/containers/${id}`, {
        query: { force: true, v: true },
        okStatuses: [404],
        signal: timeoutSignal(30_000),
      });
      return;
    } catch (error) {
      // "removal already in progress" (409) settles by itself; other errors are retried briefly.
      if (error instanceof DockerError && error.status === 409 && /in progress/.test(error.message)) return;
      if (i === 2) {
        logger?.error("cannot remove job container", { container: id, error: (error as Error).message });
        throw error;
      }
      await sleep(500);
    }
  }
}

/** Asks Docker to stop: SIGTERM, SIGKILL after `graceMs`; returns when the container is down. */
export async function stopContainer(docker: DockerClient, id: string, graceMs: number): Promise<void> {
  await docker.send("POST", `/containers/${id}/stop`, {
    query: { t: Math.ceil(graceMs / 1000) },
    okStatuses: [304, 404],
    signal: timeoutSignal(graceMs + 30_000),
  });
}

/** How long a log stream may go quiet after the container ended before the rest is given up. */
const LOG_STALL_MS = 5000;

/** Waits for `pump` while output keeps arriving; undefined when it went quiet for `stallMs`. */
async function drain<T>(pump: Promise<T>, lastActivity: () => number, stallMs: number): Promise<T | undefined> {
  let done = false;
  let result: T | undefined;
  pump.then((r) => {
    done = true;
    result = r;
  });
  while (!done && Date.now() - lastActivity() < stallMs) await settleWithin([pump], 100);
  return done ? result : undefined;
}

interface State {
  Status: string;
  ExitCode: number;
  OOMKilled: boolean;
  Error?: string;
  StartedAt?: string;
}

/** Drives container `id` to its end and returns the classified outcome. The container is removed on every path. */
export async function superviseContainer(
  docker: DockerClient,
  id: string,
  options: SuperviseOptions,
): Promise<ContainerOutcome> {
  const begin = Date.now();
  const log = options.logger;
  const times = options.times;
  const tails = { stdout: new TailBuffer(options.tailBytes), stderr: new TailBuffer(options.tailBytes) };
  let logged = 0;
  let capNoted = false;
  let lastOutputAt = Date.now();
  const onLine = (stream: LogStream, line: string) => {
    lastOutputAt = Date.now();
    tails[stream].push(line);
    options.onLine?.(stream, line);
    if (logged < options.logMaxBytes) {
      logged += line.length + 1;
      log.info("job output", { stream, line });
    } else if (!capNoted) {
      capNoted = true;
      log.warn("job output beyond the log cap is counted, not logged", { cap_bytes: options.logMaxBytes });
    }
  };
  const facts: EndFacts = { timeoutMs: options.timeoutMs, statusPaths: options.statusPaths };
  const logCtl = new AbortController();
  let pump: Promise<{ stdoutBytes: number; stderrBytes: number } | undefined> = Promise.resolve(undefined);
  // Listen before the first call: an abort that lands while the container starts or its logs attach must still stop
  // it (it then cuts the wait short at once), not be missed by a listener added after it fired.
  const waitCtl = new AbortController();
  let stopping: "timeout" | "abort" | undefined;
  const onAbort = () => {
    stopping ??= "abort";
    waitCtl.abort();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let removed: Promise<void> | undefined;
  let early = false;
  let startError: unknown;
  try {
    if (options.signal?.aborted) {
      facts.aborted = abortKind(options.signal);
      early = true; // returned from here: the removal is awaited below, not handed out
      return classifyOutcome(facts);
    }
    let t0 = performance.now();
    if (options.start) {
      // An abort during the start cuts it short; the container is then force-removed below.
      await docker.send("POST", `/containers/${id}/start`, { okStatuses: [304], signal: options.signal })
        .catch((error) => {
          startError = error;
          throw error;
        });
      t0 = times?.since("start", t0) ?? t0;
    }
    const startedAt = options.startedAt ?? Date.now();
    if (!stopping) {
      const logs = await docker.request("GET", `/containers/${id}/logs`, {
        query: { follow: true, stdout: true, stderr: true, tail: options.logTailLines ?? "all" },
        signal: logCtl.signal,
      });
      pump = demultiplex(logs.body!, onLine).catch((error) => {
        if (!logCtl.signal.aborted) log.warn("job output stream broke", { error: (error as Error).message });
        return undefined;
      });
      t0 = times?.since("logs", t0) ?? t0;
    }
    // Wait for the end, the time limit, or an abort — whichever comes first.
    const remaining = Math.max(0, startedAt + options.timeoutMs - Date.now());
    timer = setTimeout(() => {
      stopping ??= "timeout";
      waitCtl.abort();
    }, remaining);
    try {
      // Docker sends the headers at once and the body at the exit: read the body. An abort already seen fails it now.
      await docker.json("POST", `/containers/${id}/wait`, {
        query: { condition: "not-running" },
        signal: waitCtl.signal,
      });
    } catch (error) {
      if (!stopping) throw error;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
    if (stopping) {
      log.warn(
        stopping === "timeout" ? "job time limit reached; stopping container" : "job aborted; stopping container",
        {
          grace_ms: options.stopGraceMs,
        },
      );
      await stopContainer(docker, id, options.stopGraceMs);
      if (stopping === "timeout") facts.timedOut = true;
      else facts.aborted = abortKind(options.signal);
    }
    t0 = times?.since("wait", t0) ?? t0;
    const info = await docker.json<{ State: State }>("GET", `/containers/${id}/json`, {
      signal: timeoutSignal(30_000),
    });
    t0 = times?.since("inspect", t0) ?? t0;
    facts.exitCode = info.State.ExitCode;
    facts.oomKilled = info.State.OOMKilled;
    // The log stream ends once Docker has sent all of it; only a stream that stalls is given up on.
    const ended = Date.now();
    const totals = await drain(pump, () => Math.max(lastOutputAt, ended), LOG_STALL_MS);
    times?.since("logs_drain", t0);
    facts.output = {
      stdoutTail: tails.stdout.text(),
      stderrTail: tails.stderr.text(),
      stdoutBytes: totals?.stdoutBytes ?? 0,
      stderrBytes: totals?.stderrBytes ?? 0,
    };
  } catch (error) {
    facts.error = error;
    if (options.signal?.aborted) facts.aborted = abortKind(options.signal);
    // The status gets the message without host paths; the operator's log keeps the daemon's full words.
    else log.warn("job container failed", { error: error as Error });
    facts.output = { stdoutTail: tails.stdout.text(), stderrTail: tails.stderr.text(), stdoutBytes: 0, stderrBytes: 0 };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    logCtl.abort();
    await pump;
    const t1 = performance.now();
    removed = removeContainer(docker, id, log).then(() => {}, () => {}).finally(() => times?.since("remove", t1));
    if (!options.deferRemove || early) await removed;
  }
  const outcome = classifyOutcome(facts);
  if (options.deferRemove) outcome.removed = removed;
  if (startError !== undefined && !options.signal?.aborted) outcome.startError = startError;
  outcome.durationMs = Date.now() - begin;
  return outcome;
}
