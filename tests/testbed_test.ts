/** The test bed itself: each real service the suite relies on answers and is cleaned up. */
import assert from "node:assert/strict";
import { JsonRpcProvider } from "ethers";
import { connect } from "nats-transport";
import { DockerClient } from "../src/docker/mod.ts";
import { Anvil } from "./support/anvil.ts";
import { DOCKER_HOST, dockerMissing, ensureTestImage } from "./support/docker.ts";
import { NatsServer, natsServerMissing } from "./support/nats_server.ts";
import { serviceAvailable } from "./support/service.ts";

const hasDocker = serviceAvailable("dockerd", await dockerMissing());
const hasNats = serviceAvailable("nats-server", natsServerMissing());

Deno.test({
  name: "dockerd: the locally built busybox image runs a command and its output is read back",
  ignore: !hasDocker,
  async fn() {
    const image = await ensureTestImage();
    using docker = new DockerClient(DOCKER_HOST);
    const created = await docker.json<{ Id: string }>("POST", "/containers/create", {
      body: {
        Image: image,
        Cmd: ["sh", "-c", "echo hello-from-busybox; echo err >&2"],
        HostConfig: { NetworkMode: "none" },
      },
    });
    try {
      await docker.send("POST", `/containers/${created.Id}/start`);
      const wait = await docker.json<{ StatusCode: number }>("POST", `/containers/${created.Id}/wait`);
      assert.equal(wait.StatusCode, 0);
      const res = await docker.request("GET", `/containers/${created.Id}/logs`, { query: { stdout: 1, stderr: 0 } });
      const bytes = new Uint8Array(await res.arrayBuffer());
      // Frames: 8-byte header (stream, 0, 0, 0, size BE u32) then payload.
      assert.equal(bytes[0], 1, "stdout frame");
      const size = new DataView(bytes.buffer).getUint32(4);
      assert.equal(new TextDecoder().decode(bytes.subarray(8, 8 + size)), "hello-from-busybox\n");
    } finally {
      await docker.send("DELETE", `/containers/${created.Id}`, { query: { force: true } });
    }
    const gone = await docker.request("GET", `/containers/${created.Id}/json`, { okStatuses: [404] });
    await gone.body?.cancel();
    assert.equal(gone.status, 404, "the container was removed");
  },
});

Deno.test({
  name: "nats-server: publish/subscribe round trip, then again after a restart on the same port",
  ignore: !hasNats,
  async fn() {
    await using server = await NatsServer.start();
    const nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    try {
      const roundTrip = async (payload: string) => {
        const sub = nc.subscribe("testbed.echo", { max: 1 });
        const got = (async () => {
          for await (const m of sub) return m.string();
        })();
        await nc.flush();
        nc.publish("testbed.echo", payload);
        return await got;
      };
      assert.equal(await roundTrip("one"), "one");
      const jsm = await (await import("@nats-io/jetstream")).jetstreamManager(nc);
      assert.ok((await jsm.getAccountInfo()).limits !== undefined, "JetStream is enabled");
      await server.restart();
      // The client reconnects by itself; wait until it has.
      const deadline = Date.now() + 10_000;
      while (nc.isClosed() || !(await nc.flush().then(() => true, () => false))) {
        if (Date.now() > deadline) assert.fail("client did not reconnect");
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await roundTrip("two"), "two");
    } finally {
      await nc.close();
    }
  },
});

Deno.test({
  name: "anvil: a local chain answers with its chain id through ethers",
  async fn() {
    await using anvil = await Anvil.start({ chainId: 5611 });
    const provider = new JsonRpcProvider(anvil.url, undefined, { staticNetwork: true });
    try {
      const network = await provider.getNetwork();
      assert.equal(network.chainId, 5611n);
      assert.equal(await provider.getBlockNumber(), 0);
    } finally {
      provider.destroy();
    }
  },
});
