import assert from "node:assert/strict";
import fc from "fast-check";
import { CID } from "multiformats/cid";
import { InvalidJobError } from "./errors.ts";
import { JOB_ID_PATTERN, parseJobMessage, type ParseJobOptions, parseJobValue } from "./schema.ts";
import { dockerSpecChecks } from "../docker/mod.ts";

/** Parses with the real Docker checks, as the agent does. */
const parseChecked = (data: Uint8Array, options: Partial<ParseJobOptions> = {}) =>
  parseJobMessage(data, { checks: dockerSpecChecks, ...options });

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const CID_V0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";
const CID_V1 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

function invalid(value: unknown): InvalidJobError {
  try {
    parseChecked(enc(value));
  } catch (error) {
    assert.ok(error instanceof InvalidJobError, `expected InvalidJobError, got ${error}`);
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(value).slice(0, 200)}`);
}

Deno.test("seed-format message parses with the default output path", () => {
  const { job } = parseChecked(enc({ job_id: "j-1", image_name: "busybox:1.36", input_file_cid: CID_V0 }));
  assert.deepEqual(job, { jobId: "j-1", imageName: "busybox:1.36", inputFileCid: CID_V0, outputPath: "/output" });
});

Deno.test("camelCase dispatcher message gives the same job as the snake_case one", () => {
  const camel = parseChecked(
    enc({ jobId: "j-2", dockerImage: "ghcr.io/lamda/sd:v1", inputFileCID: CID_V1, outputPath: "/out/" }),
  );
  const snake = parseChecked(
    enc({ job_id: "j-2", image_name: "ghcr.io/lamda/sd:v1", input_file_cid: CID_V1, output_path: "/out/" }),
  );
  assert.deepEqual(camel, snake);
  assert.equal(camel.job.outputPath, "/out");
});

Deno.test("empty input CID and output path mean none and the default", () => {
  const { job } = parseChecked(enc({ job_id: "a", image_name: "busybox", input_file_cid: "", output_path: "" }));
  assert.equal(job.inputFileCid, undefined);
  assert.equal(job.outputPath, "/output");
});

Deno.test("optional extensions are validated and normalized; unknown fields ignored", () => {
  const { job } = parseChecked(enc({
    job_id: "x",
    image_name: "busybox",
    command: ["sh", "-c", "echo hi"],
    env: { FOO: "bar" },
    gpus: 2,
    timeout_seconds: 60,
    resources: { memory_mb: 512, cpus: 1.5, other: 1 },
    whatever: { deep: true },
  }));
  assert.deepEqual(job.command, ["sh", "-c", "echo hi"]);
  assert.deepEqual(job.env, { FOO: "bar" });
  assert.equal(job.gpus, 2);
  assert.equal(job.timeoutSeconds, 60);
  assert.deepEqual(job.resources, { memoryMb: 512, cpus: 1.5 });
});

Deno.test("bad messages are rejected, with the job id when it is readable", () => {
  assert.equal(invalid("not json").jobId, undefined);
  assert.equal(invalid([1, 2]).jobId, undefined);
  assert.equal(invalid({ image_name: "busybox" }).jobId, undefined);
  assert.equal(invalid({ job_id: 42, image_name: "busybox" }).jobId, undefined);
  assert.equal(invalid({ job_id: "a".repeat(129), image_name: "busybox" }).jobId, undefined);
  assert.equal(invalid({ job_id: "m1" }).jobId, "m1");
  assert.equal(invalid({ job_id: "m2", image_name: 7 }).jobId, "m2");
  assert.equal(invalid({ job_id: "c1", image_name: "busybox", input_file_cid: "not-a-cid" }).jobId, "c1");
  assert.equal(invalid({ jobId: "c2", dockerImage: "busybox", inputFileCID: "Qm123" }).jobId, "c2");
  assert.equal(invalid({ job_id: "g", image_name: "busybox", gpus: -1 }).jobId, "g");
  assert.equal(invalid({ job_id: "g2", image_name: "busybox", gpus: 1.5 }).jobId, "g2");
  assert.equal(invalid({ job_id: "t", image_name: "busybox", timeout_seconds: 10 ** 12 }).jobId, "t");
  assert.equal(invalid({ job_id: "al", jobId: "other", image_name: "busybox" }).jobId, "al");
  assert.equal(invalid({ job_id: "e", image_name: "busybox", env: { NVIDIA_VISIBLE_DEVICES: "all" } }).jobId, "e");
  assert.equal(invalid({ job_id: "o", image_name: "busybox", output_path: "/proc/x" }).jobId, "o");
  assert.equal(invalid({ job_id: "o2", image_name: "busybox", output_path: "relative" }).jobId, "o2");
  assert.equal(invalid({ job_id: "s", image_name: "busybox", signature: "0x12" }).jobId, "s");
});

Deno.test("hostile image names are rejected before any Docker call", () => {
  for (
    const image of [
      "busybox; rm -rf /",
      "$(reboot)",
      "Busybox",
      "busybox:latest\n",
      "../../etc/passwd",
      "a".repeat(600),
      "busybox@sha256:xyz",
      "--privileged",
      " busybox",
      "busybox:`id`",
    ]
  ) {
    assert.equal(invalid({ job_id: "h", image_name: image }).jobId, "h", image);
  }
});

Deno.test("oversize messages are rejected and still name their job id", () => {
  const big = JSON.stringify({ job_id: "big-1", image_name: "busybox", pad: "x".repeat(70_000) });
  assert.equal(invalid(big).jobId, "big-1");
  assert.throws(() => parseChecked(enc({ job_id: "ok", image_name: "busybox" }), { maxBytes: 10 }), InvalidJobError);
});

Deno.test("invalid UTF-8 is rejected", () => {
  assert.throws(() => parseChecked(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), InvalidJobError);
});

const validJob = fc.record({
  job_id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/),
  image_name: fc.constantFrom("busybox", "busybox:1.36", "ghcr.io/lamda/worker:v2", "localhost:5000/a/b"),
  input_file_cid: fc.constantFrom(CID_V0, CID_V1, ""),
  output_path: fc.constantFrom("/output", "/out/x", "/data"),
}, { requiredKeys: ["job_id", "image_name"] });

/** Replaces, removes or retypes one field, or adds junk. */
const mutated = fc.tuple(
  validJob,
  fc.constantFrom(
    "job_id",
    "image_name",
    "input_file_cid",
    "output_path",
    "command",
    "env",
    "gpus",
    "timeout_seconds",
    "resources",
    "signature",
    "jobId",
    "dockerImage",
  ),
  fc.oneof(fc.anything(), fc.string(), fc.constant(undefined), fc.integer(), fc.jsonValue()),
).map(([job, key, value]) => ({ ...job, [key]: value }));

const payload = fc.oneof(
  { weight: 3, arbitrary: mutated.map((v) => JSON.stringify(v) ?? "null") },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: validJob.map((v) => JSON.stringify(v)) },
  {
    weight: 1,
    arbitrary: fc.tuple(validJob.map((v) => JSON.stringify(v)), fc.nat(), fc.string({ maxLength: 3 })).map((
      [s, at, junk],
    ) => s.slice(0, at % (s.length + 1)) + junk + s.slice(at % (s.length + 1))),
  },
);

Deno.test("10,000 generated and mutated payloads: a valid job or an InvalidJobError, never anything else", () => {
  let accepted = 0;
  let rejected = 0;
  fc.assert(
    fc.property(payload, (text) => {
      let job;
      try {
        job = parseChecked(enc(text)).job;
      } catch (error) {
        if (!(error instanceof InvalidJobError)) throw error;
        rejected++;
        if (error.jobId !== undefined) assert.match(error.jobId, JOB_ID_PATTERN);
        return;
      }
      accepted++;
      assert.match(job.jobId, JOB_ID_PATTERN);
      assert.ok(job.outputPath.startsWith("/"));
      if (job.inputFileCid) CID.parse(job.inputFileCid);
    }),
    { numRuns: 10_000 },
  );
  // Both branches must be exercised, or the property proves nothing.
  assert.ok(accepted > 100 && rejected > 1000, `accepted ${accepted}, rejected ${rejected}`);
});

Deno.test("a readable job id survives any invalid field next to it", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9._:-]{1,30}$/), fc.anything(), (id, junk) => {
      try {
        parseJobValue({ job_id: id, image_name: junk === "busybox" ? 1 : junk }, dockerSpecChecks);
      } catch (error) {
        assert.ok(error instanceof InvalidJobError);
        assert.equal(error.jobId, id);
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("the Lamda backend's message today (camelCase, dockerImage and inputFileCID empty) names the missing image", () => {
  const message = { jobId: "backend-1", dockerImage: "", inputFileCID: "" };
  assert.throws(
    () => parseChecked(enc(message)),
    (e: unknown) =>
      e instanceof InvalidJobError && e.jobId === "backend-1" &&
      /Missing field image_name \(dockerImage\)/.test(e.message),
  );
});
