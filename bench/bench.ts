/**
 * Side-by-side benchmarks of the agent against the plain tools, on the local network (not a test; not run in CI):
 *
 * - P1 one trivial job end to end (dispatch → input → container → upload → completed) vs `curl` + `docker run --rm` +
 *   `curl`, alternating; the agent's overhead is its end-to-end time minus the container's run time.
 * - P2 N trivial jobs on 4 slots vs `xargs -P4 docker run --rm`: throughput ratio.
 * - P3/P4 the storage benchmark (`bench/storage_bench.ts`) at `--storage-size` (default 64MiB; `--storage-size 1GiB`).
 * - P5 the idle agent for `--idle` seconds: RSS and CPU from /proc/<pid>/status and /proc/<pid>/stat.
 *
 *   deno task bench [--p1 20] [--p2 200] [--idle 60] [--storage-size 64MiB] [--only P1,P2,P3,P5]
 *
 * Prints a table and writes JSON to `bench/results/`.
 */
import { parseArgs } from "node:util";
import { AgentProcess } from "../tests/support/agent_process.ts";
import { DOCKER_HOST } from "../tests/support/docker.ts";
import { DEV_PINATA_JWT, LocalNetwork } from "../tests/support/local_network.ts";
import { StatusWatch } from "../tests/agent/helpers.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    p1: { type: "string", default: "20" },
    p2: { type: "string", default: "200" },
    idle: { type: "string", default: "60" },
    "storage-size": { type: "string", default: "64MiB" },
    only: { type: "string", default: "P1,P2,P3,P5" },
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
  await using agent = AgentProcess.start({
    env: net.agentEnv(dataDir, { LOG_LEVEL: "info", CPU_ONLY_SLOTS: "4", MAX_CONCURRENT_JOBS: "4" }),
  });
  await agent.ready();
  await using watch = await StatusWatch.open(net.nats.url);
  const input = await net.addFile("input", "benchmark input\n");
  let seq = 0;

  const agentJob = async (job: Record<string, unknown>) => {
    const id = `bench-${Date.now()}-${++seq}`;
    const t0 = performance.now();
    await watch.dispatch(net.agentAddress, { job_id: id, image_name: net.image, ...job });
    const s = await watch.terminal(id, 300_000);
    if (s.status !== "completed") throw new Error(`bench job failed: ${JSON.stringify(s)}`);
    return { ms: performance.now() - t0, runMs: Number(s.run_ms ?? NaN) };
  };

  /** The same work with the plain tools: curl the input, docker run --rm, curl the output up. */
  const plainJob = async () => {
    const dir = `${work}/plain-${++seq}`;
    await Deno.mkdir(`${dir}/in`, { recursive: true });
    await Deno.mkdir(`${dir}/out`, { recursive: true });
    const t0 = performance.now();
    await sh("curl", ["-sS", "--fail", "-o", `${dir}/in/input`, `${net.ipfs.url}/ipfs/${input}?format=raw`]);
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
      TRIVIAL,
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
      `file=@${dir}/out/result.txt`,
      `${net.ipfs.url}/pinning/pinFileToIPFS`,
    ]);
    return { ms: performance.now() - t0, runMs };
  };

  if (only.has("P1")) {
    const n = Number(args.values.p1);
    await agentJob({ input_file_cid: input, command: ["/bin/sh", "-c", TRIVIAL] }); // warm-up
    await plainJob();
    const a: { ms: number; runMs: number }[] = [];
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
  }

  if (only.has("P2")) {
    const n = Number(args.values.p2);
    const cmd = ["/bin/sh", "-c", "echo ok > /output/o"];
    const t0 = performance.now();
    await Promise.all(Array.from({ length: n }, () => agentJob({ command: cmd })));
    const agentS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await sh("sh", [
      "-c",
      `seq ${n} | xargs -P4 -I{} ${DOCKER} run --rm --network none ${net.image} /bin/sh -c 'echo ok > /tmp/o'`,
    ]);
    const plainS = (performance.now() - t1) / 1000;
    results.P2 = { n, agentJobsPerS: n / agentS, plainJobsPerS: n / plainS, ratio: plainS / agentS };
    table.push([
      `P2 ${n} jobs, 4 slots (jobs/s)`,
      (n / agentS).toFixed(2),
      (n / plainS).toFixed(2),
      `ratio ${(plainS / agentS).toFixed(2)}`,
    ]);
  }

  if (only.has("P5")) {
    const secs = Number(args.values.idle);
    const pid = agent.child.pid;
    const hz = 100;
    const cpu = () => {
      const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) / hz; // utime + stime, fields 14 and 15
    };
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1]) / 1024;
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
  }
  agent.signal("SIGTERM");
  await agent.exit();
} finally {
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  await Deno.remove(work, { recursive: true }).catch(() => {});
}

if (only.has("P3") || only.has("P4")) {
  const size = args.values["storage-size"]!;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./storage_bench.ts", import.meta.url).pathname, "--size", size],
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
