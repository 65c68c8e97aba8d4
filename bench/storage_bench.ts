/**
 * Storage benchmark (not a test): uploads a random file through the agent's streamed Pinata client and fetches it back
 * with full verification, against the local IPFS service in a separate process; compares with `curl` doing the same
 * transfers without verification, and reports the agent's peak RSS (VmHWM).
 *
 *   deno run -A bench/storage_bench.ts [--size 1GiB]
 */
import { parseArgs } from "node:util";
import { Logger } from "../src/log/mod.ts";
import { startDevIpfs, Storage } from "../src/storage/mod.ts";
import { benchConfig, curl, parseSize, settleDisk, timed, writeRandom } from "./storage_support.ts";

const JWT = "bench-jwt-0123456789";
const args = parseArgs({
  args: Deno.args,
  options: { size: { type: "string", default: "1GiB" }, serve: { type: "string" }, dir: { type: "string" } },
});

if (args.values.serve) {
  if (!args.values.dir) throw new Error("--serve needs --dir, the service's data directory");
  // Child mode: the service runs in its own process so its memory is not counted as the agent's.
  const service = await startDevIpfs({ port: Number(args.values.serve), dataDir: args.values.dir, jwt: JWT });
  console.log(service.url);
  await new Promise(() => {});
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Starts a new peak: the kernel resets VmHWM to the current RSS (`5` to clear_refs, Linux 4.0+). */
function resetPeakRss(): void {
  Deno.writeTextFileSync("/proc/self/clear_refs", "5");
}

const size = parseSize(args.values.size!);
const work = await Deno.makeTempDir({ prefix: "storage-bench-" });
const port = (() => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
})();
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL(import.meta.url).pathname, "--serve", String(port), "--dir", `${work}/service`],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
try {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const url = (await reader.read()).value!.trim();
  reader.releaseLock();

  const src = `${work}/src`;
  await Deno.mkdir(src);
  await writeRandom(`${src}/big.bin`, size);
  const mb = size / 1024 ** 2;

  await settleDisk();
  const [curlUp, curlUpS] = await timed(() =>
    curl([
      "-H",
      `Authorization: Bearer ${JWT}`,
      "-F",
      'pinataOptions={"cidVersion":1}',
      "-F",
      `file=@${src}/big.bin;filename=output/big.bin`,
      `${url}/pinning/pinFileToIPFS`,
    ])
  );
  const curlCid = JSON.parse(curlUp).IpfsHash as string;

  const storage = new Storage(benchConfig(`${work}/agent`, { url, jwt: JWT, size }), new Logger({ level: "warn" }));
  // uploadOutput moves the directory into the spool: give it a hard-linked twin so the source stays.
  await new Deno.Command("cp", { args: ["-al", src, `${work}/out`] }).output();
  await settleDisk();
  resetPeakRss();
  const [up, agentUpS] = await timed(() =>
    storage.uploadOutput(`${work}/out`, { jobId: "bench", agentAddress: "0x0" })
  );
  if (up.cid !== curlCid) throw new Error(`CID differs: agent ${up.cid}, curl ${curlCid}`);

  const upPeak = peakRssMb();
  // Each download starts from the same state: the service's blocks read once (untimed) so that neither side pays for
  // reading them back from disk after the other's writes pushed them out of the page cache, and no dirty pages.
  const carUrl = `${url}/ipfs/${up.cid}?format=car`;
  const warm = async () => {
    await curl(["-o", "/dev/null", carUrl]);
    await settleDisk();
  };
  await warm();
  const [, curlDownS] = await timed(() => curl(["-o", `${work}/curl.car`, carUrl]));
  await Deno.remove(`${work}/curl.car`);
  await warm();
  resetPeakRss();
  const [down, agentDownS] = await timed(() => storage.fetchInput(up.cid, `${work}/in`));
  const downPeak = peakRssMb();
  if (down.bytes !== size) throw new Error(`fetched ${down.bytes} bytes, expected ${size}`);

  const row = (what: string, agentS: number, curlS: number) =>
    console.log(
      `${what.padEnd(26)} agent ${(mb / agentS).toFixed(1).padStart(7)} MiB/s   curl ${
        (mb / curlS).toFixed(1).padStart(7)
      } MiB/s` +
        `   ratio ${(curlS / agentS).toFixed(2)}x`,
    );
  console.log(`size ${mb.toFixed(0)} MiB, CID ${up.cid}`);
  row("upload (pinFileToIPFS)", agentUpS, curlUpS);
  row("download (CAR, verified)", agentDownS, curlDownS);
  console.log(`agent peak RSS (VmHWM): upload ${upPeak.toFixed(0)} MB, download ${downPeak.toFixed(0)} MB`);
} finally {
  child.kill("SIGTERM");
  await child.status;
  await Deno.remove(work, { recursive: true });
}
