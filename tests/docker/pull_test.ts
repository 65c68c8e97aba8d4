/** Image pulls: policy before any call, registry failures, progress, inactivity and total timeouts, digest check. */
import assert from "node:assert/strict";
import {
  DockerClient,
  DockerEngine,
  ensureImage,
  ImagePolicyError,
  ImagePullError,
  parseImageReference,
  registryAuthHeader,
} from "../../src/docker/mod.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { CaptureWriter, dockerReady, testEngine } from "./support/harness.ts";

const ready = await dockerReady();
const DIGEST = "sha256:" + "a".repeat(64);

/** A fake daemon on a unix socket whose pull answers progress lines on a schedule, then stalls or ends. */
function fakeDaemon(
  opts: {
    progressEveryMs: number;
    lines: number;
    after: "stall" | "end";
    repoDigests?: string[];
    /** The pull fails with an error that quotes the X-Registry-Auth header it got, as a careless registry might. */
    echoAuth?: boolean;
  },
) {
  const dir = Deno.makeTempDirSync({ prefix: "lamda-fake-docker-" });
  const path = `${dir}/docker.sock`;
  const seen: { path: string; auth: string | null }[] = [];
  const pulled = new Set<string>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const server = Deno.serve({ path, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    // After `DockerEngine.connect` every call carries the negotiated version.
    url.pathname = url.pathname.replace(/^\/v\d+\.\d+\//, "/");
    seen.push({ path: url.pathname + url.search, auth: req.headers.get("x-registry-auth") });
    if (url.pathname.startsWith("/images/") && url.pathname.endsWith("/json")) {
      const name = decodeURIComponent(url.pathname.slice("/images/".length, -"/json".length)).split(/[:@]/)[0];
      if (!pulled.has(name)) return Response.json({ message: "No such image" }, { status: 404 });
      return Response.json({ Id: "sha256:" + "b".repeat(64), RepoDigests: opts.repoDigests ?? [] });
    }
    if (url.pathname === "/version") return Response.json({ ApiVersion: "1.43", Version: "24.0.0" });
    if (url.pathname === "/info") return Response.json({ Runtimes: { runc: {} }, NCPU: 2 });
    if (url.pathname === "/images/create" && opts.echoAuth) {
      const error = `unauthorized: credentials ${req.headers.get("x-registry-auth")} refused`;
      return new Response(JSON.stringify({ error, errorDetail: { message: error } }) + "\n");
    }
    if (url.pathname === "/images/create") {
      let n = 0;
      const body = new ReadableStream<Uint8Array>({
        start(ctl) {
          const tick = () => {
            if (n >= opts.lines) {
              if (opts.after === "end") ctl.close();
              return; // "stall": nothing more, the connection held open
            }
            n++;
            const msg = { status: "Downloading", id: "layer1", progressDetail: { current: n * 1000, total: 100_000 } };
            ctl.enqueue(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
            const t = setTimeout(tick, opts.progressEveryMs);
            timers.add(t);
          };
          tick();
        },
      });
      pulled.add(url.searchParams.get("fromImage")!);
      return new Response(body, { headers: { "content-type": "application/json" } });
    }
    return Response.json({ message: "not here" }, { status: 404 });
  });
  return {
    host: `unix://${path}`,
    seen,
    async [Symbol.asyncDispose]() {
      for (const t of timers) clearTimeout(t);
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a pull that makes no progress is abandoned after the inactivity timeout; auth only goes to its registry", async () => {
  await using fake = fakeDaemon({ progressEveryMs: 50, lines: 3, after: "stall" });
  using docker = new DockerClient(fake.host);
  const logs = new CaptureWriter();
  const auth = { server: "registry.example.com", username: "bot", password: "s3cret-registry-token" };
  const began = Date.now();
  await assert.rejects(
    ensureImage(docker, "registry.example.com/team/model:1", {
      auth,
      inactivityTimeoutMs: 1000,
      totalTimeoutMs: 60_000,
      logger: new Logger({ writer: logs }),
      progress: "log",
    }),
    (e: Error) => e instanceof ImagePullError && /made no progress for 1 s/.test(e.message),
  );
  assert.ok(Date.now() - began < 5000);
  const pull = fake.seen.find((r) => r.path.startsWith("/images/create"))!;
  assert.match(pull.path, /fromImage=registry.example.com%2Fteam%2Fmodel&tag=1/);
  const decoded = JSON.parse(atob(pull.auth!.replaceAll("-", "+").replaceAll("_", "/")));
  assert.deepEqual(decoded, {
    username: "bot",
    password: "s3cret-registry-token",
    serveraddress: "registry.example.com",
  });
  const progress = logs.records.filter((r) => r.msg === "pulling image" && r.fields.total_bytes === 100_000);
  assert.ok(progress.length >= 1, "progress was logged");
  assert.ok(!JSON.stringify(logs.records).includes("s3cret-registry-token"), "the password is never logged");
  // Another registry gets no credentials.
  await assert.rejects(
    ensureImage(docker, "other.example.org/x:1", { auth, inactivityTimeoutMs: 1000, progress: "none" }),
    ImagePullError,
  );
  assert.equal(fake.seen.filter((r) => r.path.includes("other.example.org"))[0].auth, null);
});

Deno.test("the X-Registry-Auth value and the password are in no log line and no pull error, even when the daemon echoes them", async () => {
  await using fake = fakeDaemon({ progressEveryMs: 10, lines: 0, after: "end", echoAuth: true });
  const logs = new MemoryWriter();
  const logger = new Logger({ writer: logs });
  const auth = { server: "registry.example.com", username: "bot", password: "s3cret-registry-token" };
  const header = registryAuthHeader(parseImageReference("registry.example.com/team/model:1"), auth)!;
  using engine = await DockerEngine.connect({ host: fake.host, agentAddress: "0x" + "12".repeat(20), logger, auth });
  const error = await engine.ensureImage("registry.example.com/team/model:1").then(
    () => assert.fail("the pull fails"),
    (e) => e,
  );
  assert.ok(error instanceof ImagePullError, String(error));
  // The error's message goes into the job's status: the echoed header is gone from it too.
  assert.equal(
    error.message,
    "cannot pull registry.example.com/team/model:1: unauthorized: credentials [REDACTED] refused",
  );
  // What the pipeline does with a failed job's error: log it.
  logger.warn("Job failed", { reason: "image_pull_failed", error, message: error.message });
  const text = logs.text();
  assert.match(text, /unauthorized: credentials \[REDACTED\] refused/);
  assert.ok(!text.includes(header), "the header value is never logged");
  assert.ok(!text.includes("s3cret-registry-token"), "the password is never logged");
});

Deno.test("a pull that keeps going past the total timeout is abandoned", async () => {
  await using fake = fakeDaemon({ progressEveryMs: 100, lines: 1_000_000, after: "stall" });
  using docker = new DockerClient(fake.host);
  await assert.rejects(
    ensureImage(docker, "team/model:1", { inactivityTimeoutMs: 5000, totalTimeoutMs: 1000, progress: "none" }),
    (e: Error) => e instanceof ImagePullError && /took longer than 1 s/.test(e.message),
  );
});

Deno.test("a digest reference whose pulled image reports another digest is refused", async () => {
  await using fake = fakeDaemon({
    progressEveryMs: 10,
    lines: 2,
    after: "end",
    repoDigests: [`team/model@sha256:${"c".repeat(64)}`],
  });
  using docker = new DockerClient(fake.host);
  await assert.rejects(
    ensureImage(docker, `team/model@${DIGEST}`, { progress: "none", inactivityTimeoutMs: 1000 }),
    (e: Error) => e instanceof ImagePullError && /does not match its digest/.test(e.message),
  );
});

Deno.test({
  name: "image policy refuses before any call; a missing image from an unreachable registry is image_pull_failed",
  ignore: !ready,
  async fn() {
    await using t = await testEngine();
    using docker = new DockerClient("unix:///tmp/lamda-no-such-dir/docker.sock");
    // No daemon behind this client: a policy refusal must not need one.
    await assert.rejects(
      ensureImage(docker, "busybox:latest", { policy: { requireDigest: true } }),
      (e: Error) => e instanceof ImagePolicyError && /requires a digest/.test(e.message),
    );
    await assert.rejects(
      ensureImage(docker, "evil/miner:latest", { policy: { allowlist: ["docker.io/library/", "ghcr.io/lamda/*"] } }),
      (e: Error) =>
        e instanceof ImagePolicyError && /docker.io\/evil\/miner is not in this node's IMAGE_ALLOWLIST/.test(e.message),
    );
    // The real daemon, a registry that refuses connections.
    await assert.rejects(
      t.engine.ensureImage("localhost:1/nothing/here:1"),
      (e: Error) => e instanceof ImagePullError && /cannot pull localhost:1\/nothing\/here:1/.test(e.message),
    );
    const local = await t.engine.ensureImage(t.image);
    assert.equal(local.pulled, false);
    assert.match(local.id, /^sha256:/);
  },
});
