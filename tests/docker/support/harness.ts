/** Shared set-up of the Docker integration tests: an engine on the real daemon, small limits, captured logs. */
import {
  DEFAULT_JOB_LIMITS,
  DockerEngine,
  ImageCache,
  type ImageGcPolicy,
  ImageStore,
  type JobLimits,
} from "../../../src/docker/mod.ts";
import { Logger, type LogRecord } from "../../../src/log/mod.ts";
import { DOCKER_HOST, dockerMissing, ensureTestImage, removeAgentContainers } from "../../support/docker.ts";
import { serviceAvailable } from "../../support/service.ts";

export { DOCKER_HOST };

/** Limits small enough for a 2-CPU test machine. */
export const TEST_LIMITS: JobLimits = {
  ...DEFAULT_JOB_LIMITS,
  memoryBytes: 128 * 1024 * 1024,
  cpus: 1,
  pidsLimit: 64,
  shmSizeBytes: 32 * 1024 * 1024,
  tmpfsSizeBytes: 16 * 1024 * 1024,
  stopGraceMs: 1000,
  defaultTimeoutMs: 60_000,
  logMaxBytes: 64 * 1024,
  tailBytes: 1024,
  containerLogBytes: 8 * 1024 * 1024,
};

/** Collects log records in memory. */
export class CaptureWriter {
  records: LogRecord[] = [];
  write(record: LogRecord): void {
    this.records.push(record);
  }
}

/** A random agent address, so that tests running side by side never see each other's containers. */
export function randomAddress(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether the Docker tests can run here (prints a SKIP line, or throws in CI). */
export async function dockerReady(): Promise<boolean> {
  return serviceAvailable("dockerd", await dockerMissing());
}

/** An engine on the test daemon (or `host`), with its captured log, the test image built, and job dirs. */
export async function testEngine(
  options: { host?: string; limits?: Partial<JobLimits>; agentAddress?: string; networkSandboxImage?: string } = {},
): Promise<
  { engine: DockerEngine; logs: CaptureWriter; image: string; outputDir: string; inputDir: string } & AsyncDisposable
> {
  const image = await ensureTestImage();
  const logs = new CaptureWriter();
  const engine = await DockerEngine.connect({
    host: options.host ?? DOCKER_HOST,
    agentAddress: options.agentAddress ?? randomAddress(),
    logger: new Logger({ level: "debug", writer: logs }),
    limits: { ...TEST_LIMITS, ...options.limits },
    progress: "none",
    networkSandboxImage: options.networkSandboxImage,
  });
  const root = await Deno.makeTempDir({ prefix: "lamda-docker-test-" });
  const inputDir = `${root}/input`, outputDir = `${root}/output`;
  await Deno.mkdir(inputDir);
  await Deno.mkdir(outputDir);
  await Deno.chmod(outputDir, 0o777);
  return {
    engine,
    logs,
    image,
    outputDir,
    inputDir,
    async [Symbol.asyncDispose]() {
      // Whatever a failed test left behind is this engine's own labelled containers.
      await engine.removeOrphans([]).catch(() => {});
      await engine.closeSandboxes();
      // Holders still in use when a test failed.
      await removeAgentContainers(engine.client, engine.agentAddress);
      engine.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** Whether a container with this name exists on the daemon. */
export async function containerExists(engine: DockerEngine, name: string): Promise<boolean> {
  const res = await engine.client.request("GET", `/containers/${name}/json`, { okStatuses: [404] });
  await res.body?.cancel();
  return res.status === 200;
}

/**
 * An image cache over `engine` with its records in memory: what the agent builds, without a data root (no
 * watermarks) unless `dataRoot` is given. Close `store` when done.
 */
export function testImageCache(
  engine: DockerEngine,
  options: { gc?: Partial<ImageGcPolicy>; dataRoot?: string; logger?: Logger; store?: ImageStore } = {},
): ImageCache & { store: ImageStore } {
  const store = options.store ?? ImageStore.open(":memory:");
  const cache = new ImageCache({
    client: engine.client,
    store,
    ensure: (image, o) => engine.ensureImage(image, o),
    logger: options.logger ?? new Logger({ level: "warn" }),
    gc: { highPercent: 85, lowPercent: 80, minAgeMs: 0, keep: [], ...options.gc },
    dataRoot: options.dataRoot,
  });
  return Object.assign(cache, { store });
}
