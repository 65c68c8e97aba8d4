/**
 * Following a job's statuses for `submit`: from the status stream when one stores STATUS_SUBJECT (a dropped
 * connection then misses nothing: the ordered consumer resumes where it was), else live on core NATS; and the
 * connection's drops and returns, as they happen.
 */
import type { NatsConnection, Status as ConnectionStatus } from "../bus/mod.ts";
import type { Status } from "./submit_timeline.ts";

/** Where statuses come from, and the means to stop reading them. */
export interface StatusFeed {
  /** For people: `the status stream LAMDA_STATUS` or `core NATS (live only)`. */
  readonly source: string;
  /** Every status on the subject from the feed's start, in order, until {@linkcode StatusFeed.stop}. */
  readonly statuses: AsyncIterable<Status>;
  /** Ends the iteration; safe to call twice. */
  stop(): void;
}

/** Options of {@linkcode openStatusFeed}. */
export interface StatusFeedOptions {
  /** STATUS_SUBJECT. */
  subject: string;
  /** The JetStream status stream to read from, when the agent's intake is JetStream. */
  stream?: string;
  /** `new`: statuses published from now on (open before dispatching); `all`: also those the stream already holds. */
  from: "new" | "all";
  /** Told why the stream could not be used (core NATS is used instead). */
  onFallback?: (why: string) => void;
}

/** Opens a feed: the stream when it captures the subject, core NATS otherwise. */
export async function openStatusFeed(nc: NatsConnection, options: StatusFeedOptions): Promise<StatusFeed> {
  if (options.stream) {
    try {
      return await streamFeed(nc, options.stream, options);
    } catch (error) {
      options.onFallback?.((error as Error).message);
    }
  }
  const sub = nc.subscribe(options.subject);
  await nc.flush();
  return {
    source: "core NATS (live only)",
    statuses: decoded(sub),
    stop: () => sub.unsubscribe(),
  };
}

async function streamFeed(nc: NatsConnection, stream: string, options: StatusFeedOptions): Promise<StatusFeed> {
  const { jetstream, jetstreamManager } = await import("@nats-io/jetstream");
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const info = await jsm.streams.info(stream);
  if (!info.config.subjects?.some((pattern) => subjectMatches(pattern, options.subject))) {
    throw new Error(`stream ${stream} does not store ${options.subject}`);
  }
  // Clock-free start: the next sequence the stream will store, taken before the job is dispatched.
  const start = options.from === "new" ? { opt_start_seq: info.state.last_seq + 1 } : {};
  const consumer = await jetstream(nc, { timeout: 5000 }).consumers.get(stream, {
    filter_subjects: options.subject,
    ...start,
  });
  const messages = await consumer.consume();
  let stopped = false;
  return {
    source: `the status stream ${stream}`,
    statuses: decoded(messages),
    stop: () => {
      if (stopped) return;
      stopped = true;
      messages.stop();
    },
  };
}

async function* decoded(messages: AsyncIterable<{ json<T>(): T }>): AsyncGenerator<Status> {
  for await (const m of messages) {
    let s: unknown;
    try {
      s = m.json();
    } catch {
      continue;
    }
    if (s !== null && typeof s === "object" && !Array.isArray(s)) yield s as Status;
  }
}

/** Whether a NATS subject pattern (`*` one token, `>` the rest) matches `subject`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** A change of the connection that `submit` tells its user about. */
export type ConnectionChange = { type: "disconnected"; server: string } | { type: "reconnected"; server: string };

/** Reports the connection's drops and returns until it closes (the connection's own `status()` iterator). */
export async function watchConnection(nc: NatsConnection, report: (change: ConnectionChange) => void): Promise<void> {
  for await (const s of nc.status() as AsyncIterable<ConnectionStatus>) {
    if (s.type === "disconnect") report({ type: "disconnected", server: s.server });
    else if (s.type === "reconnect") report({ type: "reconnected", server: s.server });
  }
}
