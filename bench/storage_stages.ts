/**
 * Where the storage path's time goes (not a test): each stage of the verified download and of the upload measured on
 * its own, cumulatively, against servers that cost next to nothing (`bench/plain_servers.ts`), alternating with the
 * plain tool, medians of `--runs`.
 *
 *   deno run -A bench/storage_stages.ts [--size 256MiB] [--runs 3] [--only down,up] [--cid-version 0|1] [--profile D5]
 */
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import { CID } from "multiformats/cid";
import { Logger } from "../src/log/mod.ts";
import { startDevIpfs, Storage } from "../src/storage/mod.ts";
import { BlockSpool } from "../src/storage/block_spool.ts";
import { verifyBlock } from "../src/storage/block_verify.ts";
import { ingestCar } from "../src/storage/car_ingest.ts";
import { computeTreeCid } from "../src/storage/compute_cid.ts";
import { fetchWithTimeouts } from "../src/storage/http_fetch.ts";
import { multipartBody } from "../src/storage/multipart_body.ts";
import { scanOutput } from "../src/storage/output_tree.ts";
import { postSized } from "../src/storage/sized_post.ts";
import { CAR_ACCEPT } from "../src/storage/trustless_response.ts";
import { type CpuProfile, summary } from "./cpu_profile.ts";
import {
  benchConfig,
  cpuSeconds,
  curl,
  median,
  parseSize,
  settleDisk,
  startChild,
  timed,
  writeRandom,
} from "./storage_support.ts";

const JWT = "bench-jwt-0123456789";
const args = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "256MiB" },
    runs: { type: "string", default: "3" },
    only: { type: "string", default: "down,up" },
    // 0: the input is built as Kubo's default `ipfs add` builds it (CIDv0, dag-pb leaves); the upload stays CIDv1.
    "cid-version": { type: "string", default: "1" },
    // A stage's name (`D5`, `U3`): a V8 CPU profile of this process's main thread over that stage's runs.
    profile: { type: "string" },
  },
});
const size = parseSize(args.values.size!);
const runs = Number(args.values.runs);
const only = new Set(args.values.only!.split(","));
const mib = size / 1024 ** 2;
const inputVersion = args.values["cid-version"] === "0" ? 0 : 1;
const work = await Deno.makeTempDir({ prefix: "storage-stages-" });
const here = new URL(".", import.meta.url).pathname;

const children: Deno.ChildProcess[] = [];
try {
  await Deno.mkdir(`${work}/src`);
  await writeRandom(`${work}/src/big.bin`, size);
  const tree = await scanOutput(`${work}/src`, { maxBytes: Number.MAX_SAFE_INTEGER });
  const [cid, cidS] = await timed(async () => String(await computeTreeCid(`${work}/src`, tree)));
  console.log(`size ${mib} MiB, CID ${cid}; computeTreeCid once: ${cidS.toFixed(2)} s`);

  // The CAR the local service's gateway makes for it, then served by a plain file server.
  const service = await startDevIpfs({ port: 0, dataDir: `${work}/service`, jwt: JWT });
  await curl([
    "-H",
    `Authorization: Bearer ${JWT}`,
    "-F",
    `pinataOptions={"cidVersion":${inputVersion}}`,
    "-F",
    `file=@${work}/src/big.bin;filename=output/big.bin`,
    "-o",
    "/dev/null",
    `${service.url}/pinning/pinFileToIPFS`,
  ]);
  const inputCid = inputVersion === 1 ? cid : String(await computeTreeCid(`${work}/src`, tree, { cidVersion: 0 }));
  await curl(["-o", `${work}/big.car`, `${service.url}/ipfs/${inputCid}?format=car`]);
  await service.close();
  const carSize = (await Deno.stat(`${work}/big.car`)).size;
  const carUrl = await startChild(children, [`${here}plain_servers.ts`, "--car", `${work}/big.car`]);
  const sinkUrl = await startChild(children, [`${here}plain_servers.ts`, "--sink", cid]);
  const carCid = CID.parse(inputCid);
  const timeouts = { requestTimeoutMs: 60_000, inactivityTimeoutMs: 60_000 };

  const rows: [string, () => Promise<unknown>][] = [];
  // What a stage wrote, removed after its timing: no stage pays for deleting another's files.
  const leftovers: string[] = [];
  const fresh = (name: string) => {
    const path = `${work}/${name}-${crypto.randomUUID()}`;
    leftovers.push(path);
    return path;
  };
  const drainCar = async (sink: (c: CID, b: Uint8Array) => Promise<void> | undefined) => {
    const res = await fetchWithTimeouts(`${carUrl}/ipfs/${inputCid}?format=car`, {
      ...timeouts,
      headers: { accept: CAR_ACCEPT },
    });
    try {
      await ingestCar(res.body, { put: async (c, b) => await sink(c, b) }, { maxCarBytes: 2 * carSize });
    } finally {
      res.close();
    }
  };
  if (only.has("down")) {
    rows.push(
      ["D0 curl -o (baseline)", () => curl(["-o", fresh("curl.car"), `${carUrl}/ipfs/${inputCid}?format=car`])],
      ["D1 fetch, body drained", async () => {
        const res = await fetchWithTimeouts(`${carUrl}/x`, timeouts);
        for await (const _ of res.body) { /* drain */ }
      }],
      ["D2 + CAR decode", () => drainCar(() => undefined)],
      ["D3 + sha-256 verify", () => drainCar((c, b) => verifyBlock(c, b))],
      ["D4 + block spool (disk)", async () => {
        const spool = await new BlockSpool(fresh("spool")).open();
        try {
          await drainCar(async (c, b) => void await spool.put(c, b));
        } finally {
          await spool.destroy();
        }
      }],
      ["D5 fetchInput (full)", async () => {
        const storage = new Storage(benchConfig(`${work}/agent`, { url: carUrl, jwt: JWT, size }), quiet());
        await storage.fetchInput(carCid.toString(), fresh("in"));
      }],
    );
  }
  if (only.has("up")) {
    rows.push(
      ["U0 curl -F (baseline)", () =>
        curl([
          "-F",
          `file=@${work}/src/big.bin;filename=output/big.bin`,
          "-o",
          "/dev/null",
          `${sinkUrl}/pinning/pinFileToIPFS`,
        ])],
      ["U1 multipart body via postSized", async () => {
        const body = multipartBody([{
          name: "file",
          filename: "output/big.bin",
          path: `${work}/src/big.bin`,
          size,
        }]);
        const res = await postSized(`${sinkUrl}/pinning/pinFileToIPFS`, {
          headers: { "content-type": body.contentType },
          length: body.length,
          body: body.chunks(),
        });
        await res.arrayBuffer();
      }],
      ["U2 computeTreeCid alone", () => computeTreeCid(`${work}/src`, tree)],
      ["U3 uploadOutput (full)", async () => {
        const storage = new Storage(benchConfig(`${work}/agent`, { url: sinkUrl, jwt: JWT, size }), quiet());
        const out = `${work}/out-${crypto.randomUUID()}`;
        await new Deno.Command("cp", { args: ["-al", `${work}/src`, out] }).output();
        const up = await storage.uploadOutput(out, { jobId: `stage-${crypto.randomUUID()}`, agentAddress: "0x0" });
        if (up.cid !== cid) throw new Error(`CID ${up.cid}, expected ${cid}`);
      }],
    );
  }
  // CPU seconds per run: this process (with the curl it waited for) and the two servers, which share the cores.
  const times = rows.map(() => [] as number[]);
  const cpu = rows.map(() => ({ own: [] as number[], servers: [] as number[] }));
  const serversCpu = () => children.reduce((a, c) => a + cpuSeconds(c.pid), 0);
  for (let r = 0; r < runs; r++) {
    for (const [i, [, fn]] of rows.entries()) {
      // Each stage starts with no dirty pages: this disk slows down once a GiB or so waits to be written.
      await settleDisk();
      const [own, servers] = [cpuSeconds(), serversCpu()];
      times[i].push((await timed(fn))[1]);
      cpu[i].own.push(cpuSeconds() - own);
      cpu[i].servers.push(serversCpu() - servers);
      for (const path of leftovers.splice(0)) await Deno.remove(path, { recursive: true }).catch(() => {});
    }
  }
  console.log(
    `${"stage".padEnd(34)} ${"median s".padStart(9)} ${"MiB/s".padStart(8)} ${"CPU s".padStart(6)} ${
      "server".padStart(6)
    }   runs`,
  );
  for (const [i, [name]] of rows.entries()) {
    const m = median(times[i]);
    console.log(
      `${name.padEnd(34)} ${m.toFixed(3).padStart(9)} ${(mib / m).toFixed(0).padStart(8)} ${
        median(cpu[i].own).toFixed(2).padStart(6)
      } ${median(cpu[i].servers).toFixed(2).padStart(6)}   ${times[i].map((t) => t.toFixed(2)).join(" ")}`,
    );
  }
  const profiled = rows.find(([name]) => name.split(" ")[0] === args.values.profile);
  if (profiled) {
    // The stage again, `runs` times, under the profiler.
    const inspector = new Session();
    inspector.connect();
    await inspector.post("Profiler.enable");
    await inspector.post("Profiler.setSamplingInterval", { interval: 200 });
    await inspector.post("Profiler.start");
    for (let r = 0; r < runs; r++) await profiled[1]();
    const { profile } = await inspector.post("Profiler.stop") as { profile: CpuProfile };
    inspector.disconnect();
    printProfile(profiled[0], profile);
  }
} finally {
  for (const c of children) {
    c.kill("SIGTERM");
    await c.status;
  }
  await Deno.remove(work, { recursive: true });
}

/** The functions with the most self time on the main thread, per run of the profiled stage. */
function printProfile(stage: string, profile: CpuProfile): void {
  console.log(`main thread, ${stage}: self ms per run (of ${runs}), share of the samples`);
  for (const row of summary(profile, 20)) {
    console.log(`${(row.ms / runs).toFixed(1).padStart(8)} ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.name}`);
  }
}

function quiet(): Logger {
  return new Logger({ level: "warn" });
}
