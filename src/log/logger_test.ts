import assert from "node:assert/strict";
import { JsonWriter, Logger, MemoryWriter, PrettyWriter } from "./mod.ts";

Deno.test("records below the level are dropped", () => {
  const w = new MemoryWriter();
  const log = new Logger({ level: "warn", writer: w });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(w.records.map((r) => r.msg), ["w", "e"]);
});

Deno.test("JSON lines carry time, level, msg and structured fields from children", () => {
  const lines: string[] = [];
  const log = new Logger({ level: "debug", writer: new JsonWriter((l) => lines.push(l)) });
  log.child({ component: "docker", address: "0xAb" }).child({ job_id: "j-1" }).info("started", { n: 1n });
  const rec = JSON.parse(lines[0]);
  assert.equal(rec.level, "info");
  assert.equal(rec.msg, "started");
  assert.equal(rec.component, "docker");
  assert.equal(rec.job_id, "j-1");
  assert.equal(rec.address, "0xAb");
  assert.equal(rec.n, "1");
  assert.ok(!Number.isNaN(Date.parse(rec.time)));
});

Deno.test("errors in fields are flattened with their causes", () => {
  const w = new MemoryWriter();
  new Logger({ writer: w }).error("boom", { error: new Error("outer", { cause: new TypeError("inner") }) });
  assert.deepEqual(w.records[0].fields.error, {
    name: "Error",
    message: "outer",
    cause: { name: "TypeError", message: "inner" },
  });
});

Deno.test("registered secrets are redacted in messages and nested fields, in any hex form", () => {
  const w = new MemoryWriter();
  const log = new Logger({ writer: w });
  const key = "0xAC0974BEC39A17E36BA4A6B4D238FF944BACB478CBED5EFCAE784D7BF4F2FF80";
  log.redactor.add(key);
  log.child({ c: 1 }).info(`k=${key.toLowerCase()}`, { deep: { list: [key.slice(2)] } });
  const text = w.text();
  assert.ok(!text.toLowerCase().includes(key.slice(2).toLowerCase()));
  assert.equal((text.match(/\[REDACTED\]/g) ?? []).length, 2);
});

Deno.test("pretty lines are readable", () => {
  const lines: string[] = [];
  new Logger({ writer: new PrettyWriter((l) => lines.push(l)) }).warn("slow", { ms: 12, job_id: "a" });
  assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} WARN {2}slow ms=12 job_id=a$/);
});

Deno.test("pretty lines leave out empty values and the address every line shares, and show the component", () => {
  const lines: string[] = [];
  const log = new Logger({ writer: new PrettyWriter((l) => lines.push(l)) })
    .child({ address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" })
    .child({ component: "bus" });
  log.info("Job finished", {
    job_id: "j1",
    reason: "",
    gpus: [],
    extra: {},
    key: undefined,
    cid: null,
    msg: "two words",
  });
  assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[bus\] Job finished job_id=j1 msg="two words"$/);
  assert.ok(!lines[0].includes("0x7099"), "the address is not repeated on every line");
});

Deno.test("an error whose message repeats its cause's is logged with the sentence once", () => {
  const mem = new MemoryWriter();
  const os = new Error("No such file or directory (os error 2)");
  const unreachable = new Error("no Docker daemon at unix:///x.sock: is dockerd running?", { cause: os });
  const startup = new Error(`Cannot start (docker): ${unreachable.message}`, { cause: unreachable });
  new Logger({ writer: mem }).error(startup.message, { error: startup });
  const text = mem.text();
  assert.equal(text.split("no Docker daemon").length - 1, 2, "the msg and the outermost error only");
  assert.equal(text.split("No such file or directory").length - 1, 1, "the OS cause once");
});

Deno.test("a secret that holds another is hidden whole, whatever the order they were registered in", () => {
  const writer = new MemoryWriter();
  const logger = new Logger({ writer });
  logger.redactor.add("hunter22");
  logger.redactor.add("agent-user:hunter22");
  logger.info("connecting to nats://agent-user:hunter22@nats:4222");
  assert.equal(writer.records[0].msg, "connecting to nats://[REDACTED]@nats:4222");
});
