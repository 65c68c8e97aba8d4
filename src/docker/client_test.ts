/** What an operator reads when the Docker socket is missing or not theirs to open. */
import assert from "node:assert/strict";
import { errorFields } from "../log/mod.ts";
import { DockerClient, DockerUnreachableError } from "./client.ts";

const FIX_MISSING = "is dockerd running? set DOCKER_HOST if it listens elsewhere";
const FIX_ACCESS = "add the agent's user to the docker group (usermod -aG docker USER) or set DOCKER_HOST";

/** Root opens any socket whatever its mode, so as root the check runs as `nobody` through setpriv. */
const asRoot = Deno.uid() === 0;
const canDropRoot = !asRoot ||
  await new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" })
    .output().then((o) => o.success, () => false);

Deno.test("a missing Docker socket says no daemon is there and how to fix it, the OS error given once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const host = `unix://${dir}/docker.sock`;
    using client = new DockerClient(host);
    const error = await client.send("GET", "/_ping").then(() => assert.fail("no daemon there"), (e) => e);
    assert.ok(error instanceof DockerUnreachableError);
    assert.equal(error.message, `no Docker daemon at ${host}: ${FIX_MISSING}`);
    assert.ok(error.cause instanceof Deno.errors.NotFound, "the cause is the OS error itself");
    // As logged: the OS text appears once, not once per wrapper ("fetch failed" → "error sending request …").
    const logged = JSON.stringify(errorFields(error));
    assert.equal(logged.split("No such file or directory").length - 1, 1, logged);
    assert.doesNotMatch(logged, /fetch failed|error sending request/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a socket without access says permission denied on its path, with the docker-group fix",
  ignore: !canDropRoot,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/docker.sock`;
    const listener = Deno.listen({ transport: "unix", path });
    try {
      await Deno.chmod(dir, 0o755);
      await Deno.chmod(path, 0o000);
      const denoDir = `${dir}/deno-dir`;
      await Deno.mkdir(denoDir, { mode: 0o777 });
      await Deno.chmod(denoDir, 0o777);
      const script = new URL("./testdata/request_error.ts", import.meta.url).pathname;
      const run = [Deno.execPath(), "run", "--no-config", "--no-lock", `--allow-read=${path}`, `--allow-write=${path}`];
      // The agent's own sandbox for its socket (deno.json), so the probe behind the message works within it.
      run.push(`--allow-net=unix:${path}`, script);
      const [cmd, ...args] = asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...run] : run;
      const out = await new Deno.Command(cmd, {
        args: [...args, `unix://${path}`],
        env: { DENO_DIR: denoDir, HOME: dir, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.deepEqual(JSON.parse(text), {
        name: "DockerUnreachableError",
        message: `permission denied on ${path}: ${FIX_ACCESS}`,
        cause: "PermissionDenied",
      });
    } finally {
      listener.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("each OS error on connecting maps to its own message; an unknown one is quoted", () => {
  const sock = "unix:///var/run/docker.sock";
  const message = (cause: unknown, host = sock) => new DockerUnreachableError(host, { cause }).message;
  assert.equal(
    message(new Deno.errors.PermissionDenied("Permission denied (os error 13)")),
    `permission denied on /var/run/docker.sock: ${FIX_ACCESS}`,
  );
  assert.equal(
    message(new Deno.errors.NotFound("No such file or directory (os error 2)")),
    `no Docker daemon at ${sock}: ${FIX_MISSING}`,
  );
  assert.equal(
    message(new Deno.errors.ConnectionRefused("Connection refused (os error 111)"), "tcp://10.0.0.5:2375"),
    `nothing listens at tcp://10.0.0.5:2375: ${FIX_MISSING}`,
  );
  assert.equal(
    message(new Error("Connection reset by peer (os error 104)")),
    `cannot reach Docker at ${sock}: Connection reset by peer (os error 104) — ${FIX_MISSING}`,
  );
});
