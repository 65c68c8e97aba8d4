/**
 * Live job output (src/bus/job_logs.ts) against a real nats-server: a publisher on one connection, a follower
 * subscribed to `jobs.logs.<job_id>` on another. Messages carry whole lines in order, at a bounded rate, capped per
 * job with a `truncated` marker, redacted, and a publish that throws never reaches the job.
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats-transport";
import { type JobLogMessage, type JobLogOptions, JobLogPublisher, jobLogSubject } from "../../src/bus/mod.ts";
import { Logger, MemoryWriter, REDACTED } from "../../src/log/mod.ts";
import { NatsServer, natsServerMissing } from "../support/nats_server.ts";
import { serviceAvailable } from "../support/service.ts";
import { sleep } from "./helpers.ts";

const HAVE_NATS = serviceAvailable("nats-server", natsServerMissing());
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A publisher on its own connection and a follower of one job's subject on another. */
class LogBus implements AsyncDisposable {
  /** Payloads as they came, and parsed. */
  readonly raw: string[] = [];
  readonly messages: JobLogMessage[] = [];

  private constructor(readonly pub: NatsConnection, readonly sub: NatsConnection) {}

  static async open(url: string, jobId: string): Promise<LogBus> {
    const pub = await connect({ servers: url });
    const sub = await connect({ servers: url });
    const bus = new LogBus(pub, sub);
    sub.subscribe(jobLogSubject(jobId), {
      callback: (_e, m) => {
        bus.raw.push(m.string());
        bus.messages.push(m.json<JobLogMessage>());
      },
    });
    await sub.flush();
    return bus;
  }

  /** A publisher on the first connection's core publish. */
  publisher(options: JobLogOptions): JobLogPublisher {
    return new JobLogPublisher((subject, data) => this.pub.publish(subject, data), options);
  }

  /** Waits until `pred` holds over the messages received so far. */
  async until(pred: (messages: JobLogMessage[]) => boolean, what: string, timeoutMs = 5000): Promise<void> {
    await this.pub.flush();
    const end = Date.now() + timeoutMs;
    while (!pred(this.messages)) {
      if (Date.now() > end) assert.fail(`${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`);
      await sleep(10);
    }
  }

  /** Lets anything still in flight arrive (the publisher flushed, then a round trip on the follower). */
  async settle(): Promise<void> {
    await this.pub.flush();
    await sleep(50);
    await this.sub.flush();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.pub.close();
    await this.sub.close();
  }
}

/** The data of one stream's messages, concatenated. */
const joined = (messages: JobLogMessage[], stream: "stdout" | "stderr") =>
  messages.filter((m) => m.stream === stream && !m.truncated).map((m) => m.data).join("");

const bytes = (text: string) => new TextEncoder().encode(text).length;

Deno.test({
  name: "stdout and stderr lines arrive as JSON messages with consecutive seq, whole lines in order, ISO timestamps",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    await using bus = await LogBus.open(nats.url, "job-lines");
    const stream = bus.publisher({ maxBytes: 1 << 20, flushIntervalMs: 50 }).open("job-lines", 2);
    const out = Array.from({ length: 12 }, (_, i) => `out ${i} ünïcode ✓`);
    const err = Array.from({ length: 5 }, (_, i) => `err ${i}: something went wrong`);
    for (let i = 0; i < out.length; i++) {
      stream.line("stdout", out[i]);
      if (i < err.length) stream.line("stderr", err[i]);
      if (i % 4 === 3) await sleep(70); // spans several flushes
    }
    stream.close();
    const wantOut = out.map((l) => `${l}\n`).join("");
    const wantErr = err.map((l) => `${l}\n`).join("");
    await bus.until((ms) => joined(ms, "stdout") === wantOut && joined(ms, "stderr") === wantErr, "every line");
    await bus.settle();

    const ms = bus.messages;
    assert.ok(ms.length >= 4, `several batches, got ${ms.length}`);
    assert.equal(ms.length, stream.published);
    assert.deepEqual(ms.map((m) => m.seq), ms.map((_, i) => i), "seq 0, 1, 2… in order");
    for (const m of ms) {
      assert.equal(m.job_id, "job-lines");
      assert.equal(m.attempt, 2);
      assert.ok(m.stream === "stdout" || m.stream === "stderr", m.stream);
      assert.match(m.timestamp, ISO);
      assert.ok(m.data.length > 0 && m.data.endsWith("\n"), `whole lines: ${JSON.stringify(m.data)}`);
      assert.equal(m.truncated, undefined);
      assert.equal(m.dropped_bytes, undefined);
      const lines = m.data.slice(0, -1).split("\n");
      assert.ok(lines.every((l) => (m.stream === "stdout" ? out : err).includes(l)), m.data);
    }
    assert.equal(joined(ms, "stdout"), wantOut);
    assert.equal(joined(ms, "stderr"), wantErr);
    assert.deepEqual(Object.keys(JSON.parse(bus.raw[0])).sort(), [
      "attempt",
      "data",
      "job_id",
      "seq",
      "stream",
      "timestamp",
    ]);
  },
});

Deno.test({
  name: "a steady trickle of lines is batched at the flush interval, not one message a line",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    await using bus = await LogBus.open(nats.url, "job-rate");
    const stream = bus.publisher({ maxBytes: 1 << 20, flushIntervalMs: 500 }).open("job-rate", 1);
    const started = Date.now();
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      const text = `tick ${i}`;
      lines.push(text);
      stream.line(i % 2 ? "stderr" : "stdout", text);
      await sleep(6);
    }
    const elapsed = Date.now() - started;
    stream.close();
    const want = (parity: number) => lines.filter((_, i) => i % 2 === parity).map((l) => `${l}\n`).join("");
    await bus.until(
      (ms) => joined(ms, "stdout") === want(0) && joined(ms, "stderr") === want(1),
      "all 200 lines",
    );
    await bus.settle();

    // One flush at the first line, then one per 500 ms, then close(): per stream at most that many messages.
    const most = Math.ceil(elapsed / 500) + 1;
    for (const s of ["stdout", "stderr"] as const) {
      const n = bus.messages.filter((m) => m.stream === s).length;
      assert.ok(n >= 2 && n <= most, `${s}: ${n} messages for 100 lines over ${elapsed} ms (at most ${most})`);
    }
    assert.ok(bus.messages.length <= 2 * most, `${bus.messages.length} messages in all`);
    assert.equal(bus.messages.length, stream.published);
  },
});

Deno.test({
  name: "a burst past maxMessageBytes is published at once, without waiting for the flush timer",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    await using bus = await LogBus.open(nats.url, "job-burst");
    const stream = bus.publisher({ maxBytes: 1 << 20, flushIntervalMs: 60_000, maxMessageBytes: 1024 })
      .open("job-burst", 1);
    try {
      // The first line goes at once (no flush yet); the next batch would wait a whole minute for the timer.
      stream.line("stdout", "first");
      await bus.until((ms) => ms.length === 1, "the first line");
      assert.equal(bus.messages[0].data, "first\n");

      const line = "b".repeat(99); // 100 bytes with its newline
      for (let i = 0; i < 10; i++) stream.line("stdout", line);
      assert.equal(stream.published, 1, "1000 bytes queued: under maxMessageBytes, still waiting");
      stream.line("stdout", line);
      assert.equal(stream.published, 2, "the line reaching 1024 bytes flushed synchronously");
      const sent = Date.now();
      await bus.until((ms) => ms.length === 2, "the burst", 2000);
      assert.ok(Date.now() - sent < 2000);
      assert.equal(bus.messages[1].data, `${line}\n`.repeat(11));
      assert.equal(bus.messages[1].seq, 1);
      assert.ok(bytes(bus.messages[1].data) >= 1024);
    } finally {
      stream.close(); // clears the minute-long timer
    }
  },
});

Deno.test({
  name: "output beyond maxBytes is cut at a whole line and closed by a truncated marker counting the rest",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    await using bus = await LogBus.open(nats.url, "job-cap");
    const stream = bus.publisher({ maxBytes: 1000, flushIntervalMs: 20 }).open("job-cap", 1);
    const lines: string[] = [];
    let written = 0;
    for (let i = 0; written < 5000; i++) {
      const text = `line ${String(i).padStart(3, "0")} ${"x".repeat(i % 7 === 0 ? 10 : 48)}`;
      lines.push(text);
      written += bytes(`${text}\n`);
      stream.line(i % 3 ? "stdout" : "stderr", text);
      if (i % 10 === 9) await sleep(5);
    }
    // The lines that fit: the longest prefix of whole lines within 1000 bytes.
    let fit = 0;
    let kept = 0;
    while (fit < lines.length && kept + bytes(`${lines[fit]}\n`) <= 1000) kept += bytes(`${lines[fit++]}\n`);
    assert.ok(kept < 1000 && fit < lines.length, "the cap falls inside a line");

    stream.close();
    stream.line("stdout", "after close"); // ignored
    await bus.until((ms) => ms.some((m) => m.truncated), "the truncated marker");
    await bus.settle();

    const ms = bus.messages;
    const last = ms.at(-1)!;
    assert.equal(last.truncated, true);
    assert.equal(last.stream, "stderr");
    assert.equal(last.data, "");
    assert.equal(last.dropped_bytes, written - kept);
    assert.equal(ms.filter((m) => m.truncated).length, 1);
    assert.deepEqual(ms.map((m) => m.seq), ms.map((_, i) => i));

    const data = ms.slice(0, -1);
    const published = data.reduce((n, m) => n + bytes(m.data), 0);
    assert.equal(published, kept);
    assert.ok(published <= 1000);
    assert.ok(data.every((m) => m.data.endsWith("\n")));
    const got = data.flatMap((m) => m.data.slice(0, -1).split("\n")).sort();
    assert.deepEqual(got, lines.slice(0, fit).sort(), "exactly the first lines, whole");
    assert.ok(!bus.raw.some((r) => r.includes("after close")));
    assert.equal(stream.published, ms.length, "nothing was published after close");
  },
});

Deno.test({
  name: "lines go through the logger's redactor: a registered secret never appears in a payload",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    await using bus = await LogBus.open(nats.url, "job-secret");
    const key = "0x59C6995E998F97A5A0044966F0945389DC9E86DAE88C7A8412F4603B6B78690D";
    const logger = new Logger({ writer: new MemoryWriter() });
    logger.redactor.add(key);
    logger.redactor.add("hunter22-token");
    const stream = bus.publisher({
      maxBytes: 1 << 20,
      flushIntervalMs: 20,
      redact: (text) => logger.redactor.text(text),
    }).open("job-secret", 1);
    stream.line("stdout", `using key ${key} now`);
    stream.line("stderr", `AUTH=hunter22-token failed`);
    stream.line("stdout", `bare ${key.slice(2)} and lower ${key.slice(2).toLowerCase()}`);
    stream.line("stdout", "nothing secret here");
    stream.close();
    await bus.until((ms) => joined(ms, "stdout").includes("nothing secret here"), "every line");
    await bus.settle();

    const payloads = bus.raw.join("\n");
    for (const secret of [key, key.slice(2), key.toLowerCase().slice(2), "hunter22-token", "hunter22"]) {
      assert.ok(!payloads.includes(secret), `${secret} leaked: ${payloads}`);
    }
    assert.equal(
      joined(bus.messages, "stdout"),
      `using key ${REDACTED} now\nbare ${REDACTED} and lower ${REDACTED}\nnothing secret here\n`,
    );
    assert.equal(joined(bus.messages, "stderr"), `AUTH=${REDACTED} failed\n`);
  },
});

Deno.test({
  name: "a publish on a closed connection is reported to onError; line() and close() never throw",
  ignore: !HAVE_NATS,
  async fn() {
    await using nats = await NatsServer.start({ jetstream: false });
    const nc = await connect({ servers: nats.url });
    await nc.close();
    assert.throws(() => nc.publish("probe", "x"), "a closed connection's publish throws");

    const errors: unknown[] = [];
    const stream = new JobLogPublisher((subject, data) => nc.publish(subject, data), {
      maxBytes: 100,
      flushIntervalMs: 10,
      onError: (error) => errors.push(error),
    }).open("job-closed", 1);
    stream.line("stdout", "first"); // flushed by the timer, which throws inside the publish
    await sleep(50);
    assert.equal(errors.length, 1, "the timer's flush reported its failure");
    stream.line("stderr", "second");
    stream.line("stdout", "x".repeat(200)); // over the cap: the marker at close
    stream.close();
    stream.close();
    assert.equal(errors.length, 3, "the close flush and the truncated marker failed too");
    assert.ok(errors.every((e) => e instanceof Error), String(errors));
    assert.match(String((errors[0] as Error).message), /closed/i);
    assert.equal(stream.published, 3, "every message was attempted once");
  },
});
