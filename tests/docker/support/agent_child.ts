/** A stand-in agent process for crash tests: runs one job and prints RUNNING once the job's output starts. */
import { DockerEngine } from "../../../src/docker/mod.ts";
import { Logger } from "../../../src/log/mod.ts";
import { TEST_LIMITS } from "./harness.ts";

const [host, agentAddress, jobId, image, script, outputDir] = Deno.args;
const engine = await DockerEngine.connect({
  host,
  agentAddress,
  logger: new Logger({ level: "error" }),
  limits: TEST_LIMITS,
});
await engine.run({ jobId, attempt: 1, image, outputDir, command: ["sh", "-c", script] }, {
  onLine: (_s, line) => line === "started" && console.log("RUNNING"),
});
