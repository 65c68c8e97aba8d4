/**
 * Network sandboxes against the real dockerd: jobs join a holder's empty namespace (loopback only), never two at a
 * time, one after another; a holder gone behind the agent's back or a missing holder image costs a job nothing but the
 * faster start; a restarted agent adopts what it left.
 */
import assert from "node:assert/strict";
import { NETNS_LABEL } from "../../src/docker/net_sandbox.ts";
import { ensureSandboxImage } from "../support/docker.ts";
import { dockerReady, randomAddress, testEngine } from "./support/harness.ts";

const ready = await dockerReady();

/** Prints the container's network namespace and its interfaces, after `delay` seconds. */
const probe = (delay = 0) => [
  "sh",
  "-c",
  `busybox sleep ${delay}; echo NS=$(busybox readlink /proc/self/ns/net); ` +
  `echo NET=$(busybox awk -F: 'NR>2{gsub(/ /,"",$1); print $1}' /proc/net/dev | busybox tr '\\n' ,)`,
];

type Engine = Awaited<ReturnType<typeof testEngine>>;

/** Runs one probe job; returns its namespace and interfaces. */
async function probeJob(t: Engine, jobId: string, delay = 0): Promise<{ ns: string; net: string }> {
  const lines: string[] = [];
  const outcome = await t.engine.run(
    { jobId, attempt: 1, image: t.image, command: probe(delay), outputDir: t.outputDir },
    { onLine: (_s, l) => lines.push(l), deferRemove: true },
  );
  assert.ok(outcome.ok, JSON.stringify(outcome));
  await outcome.removed;
  const get = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1) ?? "";
  return { ns: get("NS"), net: get("NET") };
}

interface Holder {
  Id: string;
  State: string;
}

/** This engine's holders as the daemon lists them. */
function holders(t: Engine): Promise<Holder[]> {
  return t.engine.client.json<Holder[]>("GET", "/containers/json", {
    query: {
      all: true,
      filters: JSON.stringify({ label: [`${NETNS_LABEL}=${t.engine.agentAddress}`] }),
    },
  });
}

/** The network namespaces of the running holders, read on the host through their PID 1. */
async function holderNamespaces(t: Engine): Promise<Set<string>> {
  const out = new Set<string>();
  for (const h of await holders(t)) {
    const info = await t.engine.client.json<{ State: { Pid: number } }>("GET", `/containers/${h.Id}/json`);
    if (info.State.Pid > 0) out.add(await Deno.readLink(`/proc/${info.State.Pid}/ns/net`));
  }
  return out;
}

Deno.test({
  name: "jobs join a holder's namespace (loopback only), never two at a time, and reuse it once a container is gone",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({ networkSandboxImage: await ensureSandboxImage() });
    assert.equal(await t.engine.startSandboxes(3), true);
    const host = await Deno.readLink("/proc/self/ns/net");
    // Two at once: they overlap (each sleeps), so each needs a holder of its own.
    const [a, b] = await Promise.all([probeJob(t, "ns-a", 1), probeJob(t, "ns-b", 1)]);
    const known = await holderNamespaces(t);
    for (const j of [a, b]) {
      assert.equal(j.net, "lo,", "only the loopback interface");
      assert.notEqual(j.ns, host);
      assert.ok(known.has(j.ns), `${j.ns} is a holder's namespace (${[...known].join(" ")})`);
    }
    assert.notEqual(a.ns, b.ns, "two running jobs never share a namespace");
    // One after another: a namespace a finished job left.
    const c = await probeJob(t, "ns-c");
    assert.ok((await holderNamespaces(t)).has(c.ns), "the next job is in a holder's namespace too");
    assert.ok([a.ns, b.ns].includes(c.ns), "the next job reuses a free holder");
    assert.equal(c.net, "lo,");
    assert.ok((await holders(t)).length <= 3, "at most maxHolders holders");
    // At shutdown the free holders go.
    await t.engine.closeSandboxes();
    assert.deepEqual(await holders(t), []);
  },
});

Deno.test({
  name:
    "a holder removed behind the agent's back: the job runs in a namespace of its own, the next one in a new holder",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({ networkSandboxImage: await ensureSandboxImage() });
    assert.equal(await t.engine.startSandboxes(2), true);
    for (const h of await holders(t)) {
      await t.engine.client.send("DELETE", `/containers/${h.Id}`, { query: { force: true } });
    }
    const host = await Deno.readLink("/proc/self/ns/net");
    const own = await probeJob(t, "gone-1");
    assert.equal(own.net, "lo,");
    assert.notEqual(own.ns, host);
    assert.ok(
      t.logs.records.some((r) => /could not be joined/.test(r.msg)),
      "the fallback is logged",
    );
    // The spare made when the dead holder was taken (or one made now) serves the next job.
    const next = await probeJob(t, "gone-2");
    assert.ok((await holderNamespaces(t)).has(next.ns), "the next job is in a live holder");
  },
});

Deno.test({
  name: "a holder image that cannot be had: jobs get namespaces of their own, with one warning",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({ networkSandboxImage: "127.0.0.1:9/lamda-test/no-such-pause:1" });
    assert.equal(await t.engine.startSandboxes(2), false);
    // At the same time (a freed namespace's inode number may come back for the next one).
    const [a, b] = await Promise.all([probeJob(t, "noimg-1", 1), probeJob(t, "noimg-2", 1)]);
    assert.equal(a.net, "lo,");
    assert.notEqual(a.ns, b.ns, "each job had a namespace of its own");
    assert.deepEqual(await holders(t), []);
    const warnings = t.logs.records.filter((r) => r.level === "warn" && /sandboxes unavailable/.test(r.msg));
    assert.equal(warnings.length, 1);
    const created = t.logs.records.filter((r) => r.msg === "job container created");
    assert.equal(created.length, 2);
    assert.ok(created.every((r) => r.fields.network_sandbox === undefined), "no job joined a holder");
  },
});

Deno.test({
  name: "an agent stopped while holders are being made, or while a job container is being removed, leaves no holder",
  ignore: !ready,
  async fn() {
    await using t = await testEngine({ networkSandboxImage: await ensureSandboxImage() });
    // Shutdown comes while the first holder is being created and started (and a job takes a holder meanwhile, which
    // makes a spare in the background).
    const starting = t.engine.startSandboxes(3);
    await t.engine.closeSandboxes();
    assert.equal(await starting, false, "not usable once stopped");
    assert.deepEqual(await holders(t), [], "the holder made during the shutdown is removed");
    const again = await testEngine({ networkSandboxImage: await ensureSandboxImage() });
    await using _again = again;
    assert.equal(await again.engine.startSandboxes(3), true);
    // A job takes the free holder (a spare is then made in the background) and ends; the agent stops at once.
    const lease = await again.engine.sandboxes!.acquire();
    assert.ok(lease, "a holder for a job");
    lease.release();
    await again.engine.closeSandboxes();
    assert.deepEqual(await holders(again), [], "the job's holder and the spare made meanwhile are gone");
    // A job whose container is still being removed when the agent stops (the removal runs beside the upload).
    const third = await testEngine({ networkSandboxImage: await ensureSandboxImage() });
    await using _third = third;
    assert.equal(await third.engine.startSandboxes(3), true);
    // The job container's removal takes a while (as on a busy daemon): the stop comes before its holder is free.
    const client = third.engine.client;
    const send = client.send.bind(client);
    client.send = async (method, path, options) => {
      if (method === "DELETE" && options?.query?.v === true) await new Promise((r) => setTimeout(r, 500));
      return await send(method, path, options);
    };
    const outcome = await third.engine.run(
      {
        jobId: "stop-while-removing",
        attempt: 1,
        image: third.image,
        command: ["sh", "-c", "exit 0"],
        outputDir: third.outputDir,
      },
      { deferRemove: true },
    );
    assert.ok(outcome.ok, JSON.stringify(outcome));
    await third.engine.closeSandboxes();
    assert.deepEqual(await holders(third), [], "its holder goes once its container is gone, before the agent exits");
  },
});

Deno.test({
  name: "a restarted agent adopts its running free holders, removes stopped ones, leaves one a container uses",
  ignore: !ready,
  async fn() {
    const agentAddress = randomAddress();
    const image = await ensureSandboxImage();
    await using first = await testEngine({ agentAddress, networkSandboxImage: image });
    assert.equal(await first.engine.startSandboxes(4), true);
    const [free] = await holders(first);
    const client = first.engine.client;
    const make = async (start: boolean) => {
      const { Id } = await client.json<{ Id: string }>("POST", "/containers/create", {
        body: {
          Image: image,
          Labels: { [NETNS_LABEL]: agentAddress },
          HostConfig: { NetworkMode: "none" },
        },
      });
      if (start) await client.send("POST", `/containers/${Id}/start`);
      return Id;
    };
    const stopped = await make(false);
    const used = await make(true);
    // A container in `used`'s namespace, as a re-attached job's would be.
    const { Id: user } = await client.json<{ Id: string }>("POST", "/containers/create", {
      body: {
        Image: first.image,
        Cmd: ["sleep", "60"],
        Labels: { "lamda.agent": agentAddress },
        HostConfig: { NetworkMode: `container:${used}` },
      },
    });
    await client.send("POST", `/containers/${user}/start`);
    try {
      // The restarted agent: a new engine, same address; the first one's pool is not closed.
      await using second = await testEngine({ agentAddress, networkSandboxImage: image });
      assert.equal(await second.engine.startSandboxes(4), true);
      const ids = (await holders(second)).map((h) => h.Id);
      assert.ok(!ids.includes(stopped), "the stopped holder is removed");
      assert.ok(ids.includes(used), "the holder a container uses is left alone");
      assert.equal(second.engine.sandboxes?.size, 1, "only the free running holder is adopted");
      assert.ok(ids.includes(free.Id));
      await client.send("DELETE", `/containers/${user}`, { query: { force: true } });
      await second.engine.sandboxes!.adopt();
      assert.equal(second.engine.sandboxes?.size, 2, "once its container is gone, that holder is adopted too");
      await second.engine.closeSandboxes();
      assert.deepEqual(await holders(second), []);
    } finally {
      await client.send("DELETE", `/containers/${user}`, { query: { force: true }, okStatuses: [404] });
    }
  },
});
