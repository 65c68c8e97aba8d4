/**
 * Image pulls against a real registry (`docker-registry`, distribution 2.x) and the real dockerd: by tag, by digest, a
 * digest the registry lacks, htpasswd auth (right, missing and wrong credentials), a blob that stalls mid-body, and
 * progress logged from dockerd's own stream. Each test pushes a fresh image (a layer new to dockerd) and removes
 * whatever it pulled.
 */
import assert from "node:assert/strict";
import {
  classifyError,
  DockerClient,
  DockerEngine,
  ensureImage,
  type ImageInfo,
  ImagePullError,
  parseImageReference,
  registryAuthHeader,
} from "../../src/docker/mod.ts";
import { Logger, MemoryWriter } from "../../src/log/mod.ts";
import { LocalRegistry, pushFreshImage, registryMissing } from "../support/registry.ts";
import { serviceAvailable } from "../support/service.ts";
import { sleep, startControlledGateway } from "../fault/support.ts";
import { DOCKER_HOST, dockerReady, randomAddress } from "./support/harness.ts";
import { hasImage, removeImage } from "../support/docker.ts";

const ready = await dockerReady() && serviceAvailable("docker-registry", registryMissing());

/**
 * The controlled proxy in front of a registry stalls blob downloads (manifests always pass), with their Content-Length
 * as the registry declared it: dockerd takes a layer's total size from that header.
 */
const STALL_BLOBS = { faultPaths: /^\/v2\/.+\/blobs\//, keepContentLength: true };

/** Runs `fn` and returns what it threw; fails when it returns. */
async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  const result = await fn().then(
    (value) => ({ value }),
    (error: Error) => ({ error }),
  );
  if ("value" in result) assert.fail(`expected a rejection, got ${JSON.stringify(result.value)}`);
  return result.error;
}

Deno.test({
  name: "an image missing locally is pulled by tag once; the next ensureImage finds it and does not pull",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    const image = `${registry.host}/${await pushFreshImage(registry, "lamda-reg/by-tag")}`;
    using docker = new DockerClient(DOCKER_HOST);
    const logs = new MemoryWriter();
    using engine = await DockerEngine.connect({
      host: DOCKER_HOST,
      agentAddress: randomAddress(),
      logger: new Logger({ writer: logs }),
      progress: "none",
    });
    try {
      assert.equal(await hasImage(docker, image), false, "the push left no copy in dockerd");
      const first = await engine.ensureImage(image);
      assert.equal(first.pulled, true);
      assert.match(first.id, /^sha256:[0-9a-f]{64}$/);
      const { digest } = await registry.manifest(image.slice(registry.host.length + 1));
      assert.deepEqual(first.repoDigests, [`${image.slice(0, image.lastIndexOf(":"))}@${digest}`]);
      const second = await engine.ensureImage(image);
      assert.deepEqual(second, { ...first, pulled: false });
      const pulls = logs.records.filter((r) => r.msg === "pulling image");
      assert.equal(pulls.length, 1, "one pull, logged once");
      assert.deepEqual(pulls[0].fields, { component: "docker", image, authenticated: false });
    } finally {
      await removeImage(docker, image);
    }
  },
});

Deno.test({
  name: "a @sha256: reference is pulled by digest and its RepoDigests name that digest; name:tag@digest then resolves",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    const name = await pushFreshImage(registry, "lamda-reg/by-digest");
    const { digest } = await registry.manifest(name);
    const repo = `${registry.host}/${name.slice(0, name.lastIndexOf(":"))}`;
    const image = `${repo}@${digest}`;
    using docker = new DockerClient(DOCKER_HOST);
    try {
      const info = await ensureImage(docker, image, { progress: "none", inactivityTimeoutMs: 10_000 });
      assert.equal(info.pulled, true);
      assert.deepEqual(info.repoDigests, [image]);
      // Pinned by digest: the same image, whatever the tag says, with no second pull.
      const again = await ensureImage(docker, `${repo}:${name.slice(name.lastIndexOf(":") + 1)}@${digest}`, {
        progress: "none",
      });
      assert.deepEqual(again, { ...info, pulled: false });
    } finally {
      await removeImage(docker, image);
    }
  },
});

Deno.test({
  name: "a well-formed digest the registry does not have fails at once with image_pull_failed naming the image",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    const name = await pushFreshImage(registry, "lamda-reg/wrong-digest");
    const image = `${registry.host}/${name.slice(0, name.lastIndexOf(":"))}@sha256:${"0123456789abcdef".repeat(4)}`;
    using docker = new DockerClient(DOCKER_HOST);
    try {
      const began = Date.now();
      const error = await rejection(() =>
        ensureImage(docker, image, { progress: "none", inactivityTimeoutMs: 10_000, totalTimeoutMs: 30_000 })
      );
      const elapsed = Date.now() - began;
      assert.ok(error instanceof ImagePullError, String(error));
      assert.equal(error.image, image);
      // dockerd's own words, after ours: the image, and that the registry has no such manifest.
      assert.ok(error.message.startsWith(`cannot pull ${image}: `), error.message);
      assert.ok(error.message.includes(`manifest for ${image} not found`), error.message);
      assert.ok(elapsed < 5000, `failed after ${elapsed} ms, not by a timeout`);
      assert.equal(classifyError(error).reason, "image_pull_failed");
      assert.equal(await hasImage(docker, image), false);
    } finally {
      await removeImage(docker, image);
    }
  },
});

Deno.test({
  name: "htpasswd registry: no credentials and a wrong password are image_pull_failed, the password in no message or " +
    "log line; the right credentials pull",
  ignore: !ready,
  async fn() {
    const user = { username: "lamda-bot", password: "reg-pw-7c1e94b0d2a85f36" };
    await using registry = await LocalRegistry.start({ htpasswd: user });
    const image = `${registry.host}/${await pushFreshImage(registry, "lamda-reg/private")}`;
    using docker = new DockerClient(DOCKER_HOST);
    const logs = new MemoryWriter();
    const logger = new Logger({ level: "debug", writer: logs });
    /** An engine as the agent builds one, with these credentials (or none). */
    const connect = (password?: string) =>
      DockerEngine.connect({
        host: DOCKER_HOST,
        agentAddress: randomAddress(),
        logger,
        auth: password === undefined ? undefined : { server: registry.host, username: user.username, password },
        progress: "log",
        pullInactivityTimeoutMs: 10_000,
      });
    const wrong = "wrong-pw-49d0a6e3b1c7f258";
    const ref = parseImageReference(image);
    const header = (password: string) => registryAuthHeader(ref, { server: registry.host, ...user, password })!;
    const secretForms = [user.password, wrong].flatMap((password) => [
      password,
      btoa(password),
      btoa(`${user.username}:${password}`),
      header(password),
      header(password).replaceAll("-", "+").replaceAll("_", "/"),
    ]);
    try {
      const failures: Error[] = [];
      {
        using engine = await connect();
        const error = await rejection(() => engine.ensureImage(image));
        assert.ok(error instanceof ImagePullError, String(error));
        assert.ok(error.message.startsWith(`cannot pull ${image}: `), error.message);
        assert.match(error.message, /no basic auth credentials|unauthorized|authentication required/);
        failures.push(error);
      }
      {
        using engine = await connect(wrong);
        const error = await rejection(() => engine.ensureImage(image));
        assert.ok(error instanceof ImagePullError, String(error));
        assert.ok(error.message.startsWith(`cannot pull ${image}: `), error.message);
        assert.match(error.message, /unauthorized|authentication required/);
        failures.push(error);
      }
      for (const error of failures) {
        const status = classifyError(error);
        assert.equal(status.reason, "image_pull_failed");
        // What the pipeline does with a failed job's error: log it, and put its message in the status.
        logger.warn("Job failed", { reason: status.reason, error, message: status.message });
        for (const secret of secretForms) {
          assert.ok(!error.message.includes(secret) && !status.message.includes(secret), "no secret in the error");
        }
      }
      assert.equal(await hasImage(docker, image), false, "nothing was pulled without the right credentials");

      using engine = await connect(user.password);
      const info = await engine.ensureImage(image);
      assert.equal(info.pulled, true);
      assert.deepEqual(
        logs.records.filter((r) => r.msg === "pulling image" && "authenticated" in r.fields).map((r) =>
          r.fields.authenticated
        ),
        [false, true, true],
        "credentials go with the pulls that have them",
      );
      const text = logs.text();
      assert.match(text, /"msg":"Job failed"/);
      for (const secret of secretForms) assert.ok(!text.includes(secret), `a log line holds a form of a password`);
    } finally {
      await removeImage(docker, image);
    }
  },
});

Deno.test({
  name: "a registry blob that stalls mid-body fails the pull with 'made no progress' in bounded time; a retry pulls",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    await using proxy = startControlledGateway(registry.url, "stall", STALL_BLOBS);
    const image = `${proxy.host}/${await pushFreshImage(registry, "lamda-reg/stalled")}`;
    using docker = new DockerClient(DOCKER_HOST);
    const options = { progress: "none" as const, inactivityTimeoutMs: 1500, totalTimeoutMs: 60_000 };
    try {
      const began = Date.now();
      const error = await rejection(() => ensureImage(docker, image, options));
      const elapsed = Date.now() - began;
      assert.ok(error instanceof ImagePullError, String(error));
      assert.equal(error.message, `pull of ${image} made no progress for 2 s`);
      assert.ok(proxy.stalls >= 1, "a blob was stalled mid-body");
      assert.ok(elapsed >= 1500 && elapsed < 8000, `gave up after ${elapsed} ms`);
      assert.equal(classifyError(error).reason, "image_pull_failed");
      assert.equal(await hasImage(docker, image), false);

      proxy.mode = "pass";
      const info: ImageInfo = await ensureImage(docker, image, options);
      assert.equal(info.pulled, true);
      assert.ok(await hasImage(docker, image));
    } finally {
      await removeImage(docker, image);
    }
  },
});

Deno.test({
  name: "a pull slower than the progress interval logs dockerd's byte counts: total_bytes is the layers' size",
  ignore: !ready,
  async fn() {
    await using registry = await LocalRegistry.start();
    // The blobs stall past the log interval: the next message after it is logged with what dockerd reported so far.
    await using proxy = startControlledGateway(registry.url, "stall", STALL_BLOBS);
    const name = await pushFreshImage(registry, "lamda-reg/progress");
    const { layers } = await registry.manifest(name);
    const layerBytes = layers.reduce((n, l) => n + l.size, 0);
    const image = `${proxy.host}/${name}`;
    using docker = new DockerClient(DOCKER_HOST);
    const logs = new MemoryWriter();
    const progressRecords = () =>
      logs.records.filter((r) => r.msg === "pulling image" && "downloaded_bytes" in r.fields);
    const intervalMs = 250;
    try {
      const pull = ensureImage(docker, image, {
        logger: new Logger({ writer: logs }),
        progress: "log",
        progressIntervalMs: intervalMs,
        inactivityTimeoutMs: 30_000,
      });
      await proxy.nextStall();
      while (progressRecords().length === 0) await sleep(20);
      const first = progressRecords()[0];
      // The first message (dockerd's "Pulling from") is logged at once, before any layer is known.
      assert.equal(first.fields.downloaded_bytes, 0);
      assert.equal(first.fields.total_bytes, 0);
      await sleep(Math.max(0, first.time.getTime() + 2 * intervalMs - Date.now()));
      assert.equal(progressRecords().length, 1, "nothing is logged while nothing arrives");
      proxy.mode = "pass";
      const info = await pull;
      assert.equal(info.pulled, true);
      const records = progressRecords();
      assert.ok(records.length >= 2, JSON.stringify(records.map((r) => r.fields)));
      for (const r of records) {
        assert.equal(r.fields.image, image);
        for (const field of ["downloaded_bytes", "total_bytes", "layers", "layers_done"]) {
          assert.equal(typeof r.fields[field], "number", `${field} in ${JSON.stringify(r.fields)}`);
        }
        assert.ok((r.fields.downloaded_bytes as number) <= (r.fields.total_bytes as number));
        assert.ok((r.fields.layers_done as number) <= (r.fields.layers as number));
      }
      // Logged after the stall: dockerd had reported the layer's size (from the blob's Content-Length) and half of it.
      const last = records.at(-1)!.fields;
      assert.equal(last.total_bytes, layerBytes, `the sum of the manifest's layer sizes: ${JSON.stringify(last)}`);
      assert.ok((last.downloaded_bytes as number) >= layerBytes / 2 - 65_536, JSON.stringify(last));
      assert.ok((last.layers as number) >= layers.length, JSON.stringify(last));
    } finally {
      await removeImage(docker, image);
    }
  },
});
