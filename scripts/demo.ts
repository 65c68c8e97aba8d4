/**
 * `deno task demo`: the whole network on one machine. Starts the local network and the agent, submits a job, prints
 * the status timeline and the output, verifies the receipt, and tears everything down. Exit 0 when the job completed.
 */
import { verifyReceipt } from "../src/agent/receipt.ts";
import { AgentProcess } from "../tests/support/agent_process.ts";
import { StatusWatch } from "../tests/agent/helpers.ts";
import { startDevnet } from "./devnet.ts";

const print = (line: string) => console.log(line);
const t0 = Date.now();
const since = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(7);

async function main(): Promise<number> {
  await using net = await startDevnet(print);
  if (!net) return 1;
  const dataDir = await Deno.makeTempDir({ prefix: "lamda-demo-agent-" });
  try {
    print(`${since()} starting the agent (DATA_DIR ${dataDir})`);
    await using agent = AgentProcess.start({ env: net.agentEnv(dataDir, { LOG_LEVEL: "info" }) });
    const ready = await agent.ready();
    print(`${since()} agent ready: ${ready.address}, intake ${ready.intake}, slots ${ready.max_concurrent}`);
    const registered = agent.records().find((r) => r.msg === "Node registered" || r.msg === "Node already registered");
    if (registered) print(`${since()} on chain: ${registered.msg} (${registered.gpuModel}, vram ${registered.vram})`);

    await using watch = await StatusWatch.open(net.nats.url);
    const text = "Hello from the Lamda Network demo\n";
    const input = await net.addFile("input.txt", text);
    print(`${since()} input uploaded: ${input} (${JSON.stringify(text)})`);
    const jobId = `demo-${crypto.randomUUID().slice(0, 8)}`;
    await watch.dispatch(net.agentAddress, { job_id: jobId, image_name: net.image, input_file_cid: input });
    print(`${since()} job ${jobId} published on jobs.dispatch.${net.agentAddress}`);

    // The timeline: statuses from NATS, and the pipeline stages from the agent's log.
    let shown = 0;
    let stages = 0;
    const timeline = () => {
      for (const s of watch.of(jobId).slice(shown)) {
        print(`${since()} status ${s.status}${s.stage ? ` (${s.stage})` : ""}${s.reason ? ` reason=${s.reason}` : ""}`);
        shown++;
      }
      const log = agent.records().filter((r) => r.job_id === jobId && r.msg === "Job stage");
      for (const r of log.slice(stages)) print(`${since()}   stage ${r.stage}`);
      stages = log.length;
    };
    const timer = setInterval(timeline, 50);
    const done = await watch.terminal(jobId, 120_000);
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(timer);
    timeline();
    if (done.status !== "completed") {
      print(`job failed: ${done.reason}: ${done.message}`);
      return 1;
    }
    print(`${since()} output CID ${done.output_cid}`);
    const files = await net.readOutput(String(done.output_cid));
    print(`${since()} output retrieved and verified against its CID:`);
    for (const [name, text] of Object.entries(files)) print(`    ${name}: ${JSON.stringify(text)}`);
    const receipt = verifyReceipt(done.receipt, net.agentAddress);
    print(`${since()} receipt ${receipt.valid ? `valid, signed by ${receipt.signer}` : `INVALID: ${receipt.reason}`}`);
    if (!receipt.valid) return 1;

    agent.signal("SIGTERM");
    const status = await agent.exit();
    print(`${since()} agent stopped (exit ${status.code}); tearing the network down`);
    if (status.code === 0) {
      print("");
      print("Next steps:");
      print("  deno task dev        the same network with the agent from source, kept running (Ctrl-C drains)");
      print("  then, in another terminal, the submit line it prints, e.g.");
      print(`    deno run -A src/main.ts --env-file data/dev/devnet.env submit --image ${net.image} --input README.md`);
      print("  and its metrics at the /metrics URL it prints (/healthz and /readyz beside it)");
      print("  docs/install.md      run a real node: binary, user, .env, keygen, systemd");
    }
    return status.code;
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

Deno.exitCode = await main();
