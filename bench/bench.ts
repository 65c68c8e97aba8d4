/**
 * Side-by-side benchmarks of the agent against the plain tools, on the local network (not a test; not run in CI):
 *
 * - P1 one trivial job end to end (dispatch → input → container → upload → completed) vs `curl` + `docker run --rm` +
 *   `curl`, alternating; the agent's overhead is its end-to-end time minus the container's run time.
 * - P2 N trivial jobs on 4 slots vs `xargs -P4 docker run --rm`: throughput ratio.
 * - P3/P4 the storage benchmark (`bench/storage_bench.ts`) at `--storage-size` (default 64MiB; `--storage-size 1GiB`).
 * - P5 the idle agent for `--idle` seconds: RSS and CPU from /proc/<pid>/status and /proc/<pid>/stat; with
 *   `--heap-profile`, then a heap snapshot of it, summarized (the inspector it needs adds to the RSS: compare P5 without).
 * - P6 a job moving `--p6-size` in (verified) and out vs `curl` the CAR + `docker run --rm` (a copy) + `curl -F`.
 *
 *   deno task bench [--p1 20] [--p2 200] [--idle 60] [--storage-size 64MiB] [--p6 3] [--p6-size 256MiB]
 *                   [--only P1,P2,P3,P5,P6]
 *
 * Prints a table and writes JSON to `bench/results/`.
 */
import { parseArgs } from "node:util";
import { AgentProcess } from "../tests/support/agent_process.ts";
import { DOCKER_HOST } from "../tests/support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../tests/support/local_network.ts";
import { StatusWatch } from "../tests/agent/helpers.ts";
import { Inspector, summary } from "./cpu_profile.ts";
import { formatHeapSummary, heapSummary } from "./heap_summary.ts";
import { parseSize } from "./storage_support.ts";
import { AGENT_RUNTIME_FLAGS } from "../src/runtime_flags.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    p1: { type: "string", default: "20" },
    p2: { type: "string", default: "200" },
    idle: { type: "string", default: "60" },
    "storage-size": { type: "string", default: "64MiB" },
    /** P6: runs, and the size moved in and out by each job. */
    p6: { type: "string", default: "3" },
    "p6-size": { type: "string", default: "256MiB" },
    only: { type: "string", default: "P1,P2,P3,P5,P6" },
    /** V8 flags for the agent process (DENO_V8_FLAGS), to compare heap settings. */
    "v8-flags": { type: "string" },
    /** Writes a CPU profile of the agent during P2 (V8 inspector) to this path and prints its top functions. */
    "cpu-profile": { type: "string" },
    /** After P5, a heap snapshot of the idle agent (V8 inspector): where its heap is, printed and in the JSON. */
    "heap-profile": { type: "boolean", default: false },
  },
});
const only = new Set(args.values.only!.split(",").map((s) => s.trim().toUpperCase()));
const DOCKER = Deno.env.get("DOCKER_CLI") ?? "docker";
const TRIVIAL = "tr a-z A-Z < /input/input > /output/result.txt";

/** p-th percentile (nearest rank) of `xs`. */
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

async function sh(cmd: string, argv: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args: argv,
    env: { DOCKER_HOST, ...env },
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${cmd} ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

const results: Record<string, unknown> = {
  machine: {
    cpus: navigator.hardwareConcurrency,
    memGiB: Number(/MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1] ?? 0) / 1024 ** 2,
    deno: Deno.version.deno,
    dockerHost: DOCKER_HOST,
  },
  at: new Date().toISOString(),
};
const table: string[][] = [];

await using net = await LocalNetwork.start();
const dataDir = await Deno.makeTempDir({ prefix: "lamda-bench-" });
const work = await Deno.makeTempDir({ prefix: "lamda-bench-work-" });
try {
  const agentEnv = net.agentEnv(dataDir, { LOG_LEVEL: "info", CPU_ONLY_SLOTS: "4", MAX_CONCURRENT_JOBS: "4" });
  const v8 = args.values["v8-flags"];
  const profilePath = args.values["cpu-profile"];
  const heapProfile = args.values["heap-profile"] && only.has("P5");
  const inspectAt = `127.0.0.1:${9300 + Math.floor(Math.random() * 600)}`;
  await using agent = AgentProcess.start({
    env: agentEnv,
    denoEnv: v8 ? { DENO_V8_FLAGS: v8 } : undefined,
    permissions: profilePath || heapProfile ? ["-A", `--inspect=${inspectAt}`] : undefined,
  });
  await using inspector = profilePath || heapProfile ? await Inspector.connect(inspectAt) : undefined;
  await agent.ready();
  const pid = agent.child.pid;
  const hz = 100;
  /** The agent's CPU seconds so far (utime + stime, fields 14 and 15 of /proc/<pid>/stat). */
  const cpu = () => {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / hz;
  };
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1]) / 1024;
  await using watch = await StatusWatch.open(net.nats.url);
  const input = await net.addFile("input", "benchmark input\n");
  let seq = 0;

  const agentJob = async (job: Record<string, unknown>) => {
    const id = `bench-${Date.now()}-${++seq}`;
    const t0 = performance.now();
    const sentAt = Date.now();
    await watch.dispatch(net.agentAddress, { job_id: id, image_name: net.image, ...job });
    const s = await watch.terminal(id, 300_000);
    const arrivedAt = Date.now();
    if (s.status !== "completed") throw new Error(`bench job failed: ${JSON.stringify(s)}`);
    const t = s.timings as { received_at: string; finished_at: string };
    return {
      id,
      ms: performance.now() - t0,
      runMs: Number(s.run_ms ?? NaN),
      // Wall clock, same host: dispatch → the agent's receipt; the final status's time → its arrival here.
      inMs: Date.parse(t.received_at) - sentAt,
      outMs: arrivedAt - Date.parse(t.finished_at),
    };
  };

  /** Median milliseconds per step of the given jobs, from their `Job finished` log lines (`timing`). */
  const stepMedians = async (ids: string[]) => {
    const want = new Set(ids);
    const finished = () =>
      agent.records().filter((r) => r.msg === "Job finished" && want.has(r.job_id as string) && r.timing);
    for (let i = 0; i < 50 && finished().length < ids.length; i++) await new Promise((r) => setTimeout(r, 100));
    const steps = new Map<string, number[]>();
    const perJob = new Map<string, Record<string, number>>();
    for (const r of finished()) {
      perJob.set(r.job_id as string, r.timing as Record<string, number>);
      for (const [k, v] of Object.entries(r.timing as Record<string, number>)) steps.set(k, [...steps.get(k) ?? [], v]);
    }
    return { medians: Object.fromEntries([...steps].map(([k, v]) => [k, pct(v, 50)])), perJob };
  };
  /** Steps inside or beside another: the input fetch and the image pull (in `prepare`), the removal (beside `upload`). */
  const NESTED = new Set(["input", "image", "execute_total", "remove"]);
  const stepSum = (t: Record<string, number> | undefined) =>
    Object.entries(t ?? {}).filter(([k]) => !NESTED.has(k)).reduce((sum, [, v]) => sum + v, 0);

  /**
   * The same work with the plain tools: curl `inputUrl`, `docker run --rm` the shell `command` on it, curl the output
   * file `output` up. Returns the total and the container's part.
   */
  const plainTools = async (inputUrl: string, command: string, output: string) => {
    const dir = `${work}/plain-${++seq}`;
    await Deno.mkdir(`${dir}/in`, { recursive: true });
    await Deno.mkdir(`${dir}/out`, { recursive: true });
    const t0 = performance.now();
    await sh("curl", ["-sS", "--fail", "-o", `${dir}/in/input`, inputUrl]);
    const r0 = performance.now();
    await sh(DOCKER, [
      "run",
      "--rm",
      "--network",
      "none",
      "-v",
      `${dir}/in:/input:ro`,
      "-v",
      `${dir}/out:/output`,
      net.image,
      "/bin/sh",
      "-c",
      command,
    ]);
    const runMs = performance.now() - r0;
    await sh("curl", [
      "-sS",
      "--fail",
      "-o",
      "/dev/null",
      "-H",
      `authorization: Bearer ${DEV_PINATA_JWT}`,
      "-F",
      `file=@${dir}/out/${output}`,
      `${net.ipfs.url}/pinning/pinFileToIPFS`,
    ]);
    const ms = performance.now() - t0;
    await Deno.remove(dir, { recursive: true });
    return { ms, runMs };
  };
  const plainJob = () => plainTools(`${net.ipfs.url}/ipfs/${input}?format=raw`, TRIVIAL, "result.txt");

  if (only.has("P1")) {
    const n = Number(args.values.p1);
    await agentJob({ input_file_cid: input, command: ["/bin/sh", "-c", TRIVIAL] }); // warm-up
    await plainJob();
    const a: { id: string; ms: number; runMs: number; inMs: number; outMs: number }[] = [];
    const p: { ms: number; runMs: number }[] = [];
    for (let i = 0; i < n; i++) {
      a.push(await agentJob({ input_file_cid: input, command: ["/bin/sh", "-c", TRIVIAL] }));
      p.push(await plainJob());
    }
    const am = a.map((x) => x.ms), pm = p.map((x) => x.ms);
    const overhead = a.map((x) => x.ms - x.runMs);
    results.P1 = {
      n,
      agent: { p50: pct(am, 50), p95: pct(am, 95), runP50: pct(a.map((x) => x.runMs), 50) },
      plain: { p50: pct(pm, 50), p95: pct(pm, 95), runP50: pct(p.map((x) => x.runMs), 50) },
      ratio: pct(am, 50) / pct(pm, 50),
      overhead: { p50: pct(overhead, 50), p95: pct(overhead, 95) },
    };
    table.push(
      [
        "P1 end to end p50/p95 (ms)",
        `${pct(am, 50).toFixed(0)} / ${pct(am, 95).toFixed(0)}`,
        `${pct(pm, 50).toFixed(0)} / ${pct(pm, 95).toFixed(0)}`,
        `ratio ${(pct(am, 50) / pct(pm, 50)).toFixed(2)}`,
      ],
      ["P1 agent overhead p50/p95 (ms)", `${pct(overhead, 50).toFixed(0)} / ${pct(overhead, 95).toFixed(0)}`, "", ""],
    );
    // Where one job's time goes, as the agent measured it (docs/performance.md explains each step).
    const { medians: steps, perJob } = await stepMedians(a.map((x) => x.id));
    (results.P1 as Record<string, unknown>).steps = steps;
    for (const [k, v] of Object.entries(steps)) {
      table.push([`  P1 step ${NESTED.has(k) ? "  " : ""}${k} p50 (ms)`, v.toFixed(1), "", ""]);
    }
    const outside = a.map((x) => x.ms - stepSum(perJob.get(x.id)));
    table.push(
      ["  P1 dispatch → agent, p50 (ms)", pct(a.map((x) => x.inMs), 50).toFixed(1), "", ""],
      ["  P1 final status → dispatcher, p50 (ms)", pct(a.map((x) => x.outMs), 50).toFixed(1), "", ""],
      ["  P1 outside the steps, per job p50 (ms)", pct(outside, 50).toFixed(1), "", ""],
    );
  }

  if (only.has("P2")) {
    const n = Number(args.values.p2);
    const cmd = ["/bin/sh", "-c", "echo ok > /output/o"];
    const rss0 = rss();
    if (profilePath) await inspector?.start();
    const cpu0 = cpu();
    const t0 = performance.now();
    const burst = await Promise.all(Array.from({ length: n }, () => agentJob({ command: cmd })));
    const agentS = (performance.now() - t0) / 1000;
    const cpuPerJobMs = ((cpu() - cpu0) / n) * 1000;
    if (inspector && profilePath) {
      const profile = await inspector.stop();
      await Deno.writeTextFile(profilePath, JSON.stringify(profile));
      console.log(`CPU profile of the agent during P2: ${profilePath}; top functions by self time:`);
      for (const f of summary(profile, 30)) {
        console.log(`  ${f.ms.toFixed(0).padStart(6)} ms ${(100 * f.share).toFixed(1).padStart(5)} %  ${f.name}`);
      }
    }
    // RSS once the burst is over and the heap had a moment to shrink.
    await new Promise((r) => setTimeout(r, 3000));
    const rssAfter = rss();
    const scrape = await (await fetch(`http://${agentEnv.HTTP_ADDR}/metrics`)).text();
    const memory = Object.fromEntries(
      [...scrape.matchAll(/^lamda_process_memory_bytes\{kind="(\w+)"\} (\d+)/gm)].map((
        m,
      ) => [m[1], Number(m[2]) / 2 ** 20]),
    );
    console.log("agent memory after P2 (MiB):", JSON.stringify(memory));
    const p2steps = (await stepMedians(burst.map((b) => b.id))).medians;
    const t1 = performance.now();
    await sh("sh", [
      "-c",
      `seq ${n} | xargs -P4 -I{} ${DOCKER} run --rm --network none ${net.image} /bin/sh -c 'echo ok > /tmp/o'`,
    ]);
    const plainS = (performance.now() - t1) / 1000;
    results.P2 = {
      n,
      agentJobsPerS: n / agentS,
      plainJobsPerS: n / plainS,
      ratio: plainS / agentS,
      agentCpuPerJobMs: cpuPerJobMs,
      rssBeforeMb: rss0,
      rssAfterMb: rssAfter,
      steps: p2steps,
    };
    table.push([
      `P2 ${n} jobs, 4 slots (jobs/s)`,
      (n / agentS).toFixed(2),
      (n / plainS).toFixed(2),
      `ratio ${(plainS / agentS).toFixed(2)}`,
    ], [
      `  P2 agent CPU per job (ms)`,
      cpuPerJobMs.toFixed(1),
      "",
      "",
    ], [`  P2 RSS before / after ${n} jobs (MB)`, `${rss0.toFixed(0)} / ${rssAfter.toFixed(0)}`, "", ""]);
  }

  if (only.has("P6")) {
    // A job that moves real data: SIZE in (verified), copied by the container, SIZE out. Each run gets new bytes, so
    // neither side is helped by a cache (the agent's input cache would otherwise serve the second run).
    const size = parseSize(args.values["p6-size"]!);
    const n = Number(args.values.p6);
    const COPY = "cp /input/input /output/out.bin";
    const fresh = async () => {
      const bytes = new Uint8Array(size);
      for (let off = 0; off < size; off += 65536) crypto.getRandomValues(bytes.subarray(off, off + 65536));
      return await net.addFile("data.bin", bytes);
    };
    // The same bytes on the wire as the agent's (the CAR), unverified.
    const plainBig = async (cid: string) =>
      (await plainTools(`${net.ipfs.url}/ipfs/${cid}?format=car`, COPY, "out.bin")).ms;
    const a: number[] = [], p: number[] = [];
    for (let i = 0; i < n; i++) {
      a.push((await agentJob({ input_file_cid: await fresh(), command: ["/bin/sh", "-c", COPY] })).ms);
      p.push(await plainBig(await fresh()));
    }
    results.P6 = { n, size, agent: a, plain: p, ratio: pct(a, 50) / pct(p, 50) };
    table.push([
      `P6 ${args.values["p6-size"]} in + out, end to end p50 (ms)`,
      pct(a, 50).toFixed(0),
      pct(p, 50).toFixed(0),
      `ratio ${(pct(a, 50) / pct(p, 50)).toFixed(2)} (target ≤ 1.2)`,
    ]);
  }

  if (only.has("P5")) {
    const secs = Number(args.values.idle);
    const samples: number[] = [];
    const c0 = cpu();
    for (let i = 0; i < secs; i++) {
      samples.push(rss());
      await new Promise((r) => setTimeout(r, 1000));
    }
    const cpuPct = ((cpu() - c0) / secs) * 100;
    results.P5 = { seconds: secs, rssMbP50: pct(samples, 50), rssMbMax: Math.max(...samples), cpuPercent: cpuPct };
    table.push([
      `P5 idle ${secs} s: RSS p50/max (MB), CPU`,
      `${pct(samples, 50).toFixed(0)} / ${Math.max(...samples).toFixed(0)}`,
      "",
      `CPU ${cpuPct.toFixed(2)} %`,
    ]);
    if (inspector && heapProfile) {
      const heap = heapSummary(await inspector.heapSnapshot());
      results.P5heap = heap;
      console.log(formatHeapSummary(heap).join("\n"));
    }
  }
  // A process under `--inspect` waits for its debugger to leave before it exits.
  await inspector?.[Symbol.asyncDispose]();
  agent.signal("SIGTERM");
  await agent.exit();
} finally {
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  await Deno.remove(work, { recursive: true }).catch(() => {});
}

if (only.has("P3") || only.has("P4")) {
  const size = args.values["storage-size"]!;
  // The agent's storage code runs with the daemon's runtime flags, as in the daemon.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...AGENT_RUNTIME_FLAGS,
      new URL("./storage_bench.ts", import.meta.url).pathname,
      "--size",
      size,
    ],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  results.P3P4 = { size, output: text.trim().split("\n") };
  for (const line of text.trim().split("\n")) table.push([`P3/P4 ${line}`, "", "", ""]);
}

console.log(`\n${"benchmark".padEnd(40)} ${"agent".padEnd(14)} ${"plain tools".padEnd(14)} result`);
for (const [a, b, c, d] of table) console.log(`${a.padEnd(40)} ${b.padEnd(14)} ${c.padEnd(14)} ${d}`);
const dir = new URL("./results/", import.meta.url).pathname;
await Deno.mkdir(dir, { recursive: true });
const file = `${dir}bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
await Deno.writeTextFile(file, JSON.stringify(results, null, 2));
console.log(`\nJSON: ${file}`);
