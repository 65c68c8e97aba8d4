/**
 * JetStream resources of durable intake: the job stream (created only when configured to), the status stream
 * (likewise) and this agent's durable pull consumer (created when missing, its limits updated when they changed).
 */
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { backoffDelay, sleep } from "../timers.ts";
import { BusError } from "./errors.ts";

/** Settings of the JetStream resources an agent uses. */
export interface JetStreamSettings {
  /** Stream holding dispatched jobs (subjects `jobs.dispatch.>`). */
  jobStream: string;
  /** Stream holding statuses (subject `STATUS_SUBJECT`); statuses are published into it with dedupe ids. */
  statusStream: string;
  /** Create either stream when it does not exist (local networks, tests); production streams are the network's. */
  createStreams: boolean;
  /** Replicas for created streams (3 on a 3-node cluster). */
  replicas?: number;
  /**
   * This agent's durable consumers, one per dispatch subject spelling (EIP-55 and lowercase): separate consumers,
   * not one with `filter_subjects`, because that needs nats-server 2.10 and Debian ships 2.9.
   */
  consumers: { durable: string; filterSubject: string }[];
  ackWaitMs: number;
  maxDeliver: number;
  /** Upper bound of unacknowledged jobs the server hands this agent. */
  maxAckPending: number;
}

const ns = (ms: number) => Math.round(ms * 1_000_000);

function isCode(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** Makes sure the job stream exists (creating it only when allowed). */
export async function ensureJobStream(jsm: JetStreamManager, s: JetStreamSettings): Promise<void> {
  await ensureStream(jsm, s, s.jobStream, {
    subjects: ["jobs.dispatch.>"],
    // Work-queue retention: an acknowledged job leaves the stream; each agent's filter is its own subject.
    retention: RetentionPolicy.Workqueue,
  });
}

/** Makes sure the status stream exists (creating it only when allowed). */
export async function ensureStatusStream(jsm: JetStreamManager, s: JetStreamSettings, subject: string): Promise<void> {
  await ensureStream(jsm, s, s.statusStream, { subjects: [subject], retention: RetentionPolicy.Limits });
}

async function ensureStream(
  jsm: JetStreamManager,
  s: JetStreamSettings,
  name: string,
  cfg: { subjects: string[]; retention: RetentionPolicy },
): Promise<void> {
  try {
    await jsm.streams.info(name);
    return;
  } catch (error) {
    if (!isCode(error, JetStreamApiCodes.StreamNotFound)) {
      throw new BusError(`Cannot look up JetStream stream ${name}: ${(error as Error).message}`, { cause: error });
    }
  }
  if (!s.createStreams) {
    throw new BusError(`JetStream stream ${name} does not exist (set JETSTREAM_CREATE_STREAMS=true to create it)`);
  }
  // A cluster that is still forming answers "no suitable peers for placement" for a while: retry those, briefly.
  const deadline = Date.now() + 30_000;
  for (let attempt = 0;; attempt++) {
    const delay = backoffDelay(attempt, 250, 2000);
    try {
      await jsm.streams.add({
        name,
        ...cfg,
        num_replicas: s.replicas ?? 1,
        duplicate_window: ns(120_000),
      });
      return;
    } catch (error) {
      const transient = /no suitable peers|insufficient resources|not (yet )?ready|temporarily unavailable/i
        .test((error as Error).message);
      if (!transient || Date.now() + delay > deadline) {
        throw new BusError(`Cannot create JetStream stream ${name}: ${(error as Error).message}`, { cause: error });
      }
      await sleep(delay);
    }
  }
}

/** Creates the agent's durable pull consumers when missing, or updates their ack wait / max deliver. */
export async function ensureConsumers(jsm: JetStreamManager, s: JetStreamSettings): Promise<void> {
  for (const c of s.consumers) await ensureConsumer(jsm, s, c);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  s: JetStreamSettings,
  consumer: { durable: string; filterSubject: string },
): Promise<void> {
  const { durable } = consumer;
  const wanted = {
    ack_wait: ns(s.ackWaitMs),
    max_deliver: s.maxDeliver,
    max_ack_pending: s.maxAckPending,
  };
  try {
    const info = await jsm.consumers.info(s.jobStream, durable);
    const c = info.config;
    if (
      c.ack_wait !== wanted.ack_wait || c.max_deliver !== wanted.max_deliver ||
      c.max_ack_pending !== wanted.max_ack_pending
    ) {
      await jsm.consumers.update(s.jobStream, durable, wanted);
    }
    return;
  } catch (error) {
    if (!isCode(error, JetStreamApiCodes.ConsumerNotFound)) {
      throw new BusError(`Cannot look up consumer ${durable}: ${(error as Error).message}`, { cause: error });
    }
  }
  try {
    await jsm.consumers.add(s.jobStream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: consumer.filterSubject,
      ...wanted,
    });
  } catch (error) {
    throw new BusError(`Cannot create consumer ${durable}: ${(error as Error).message}`, { cause: error });
  }
}
