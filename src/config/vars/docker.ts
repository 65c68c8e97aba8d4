/** Variables of the docker component: the daemon, image policy, and the limits every job container runs under. */
import { z } from "zod";
import { parseImageReference } from "../../docker/reference.ts";
import { boolean, byteSize, duration, integer, list, oneOf, optional, text, withDefault } from "../spec.ts";

/** A positive decimal number of CPUs, e.g. `0.5` or `4`. */
const cpus = (): z.ZodType<number, string> =>
  z.string().trim().regex(/^\d+(\.\d+)?$/, "is not a number of CPUs (e.g. 0.5, 2, 8)").transform(Number).pipe(
    z.number().min(0.01, "must be at least 0.01").max(1024, "must be at most 1024"),
  );

/** Docker variables. */
export const dockerVars = {
  dockerHost: withDefault({
    env: "DOCKER_HOST",
    schema: z.string().trim().regex(
      /^(unix:\/\/\/.+|tcp:\/\/[^/\s]+(:\d+)?\/?)$/,
      "is not a Docker host (unix:///path/to/docker.sock or tcp://host:port)",
    ),
    default: "unix:///var/run/docker.sock",
    example: "unix:///var/run/docker.sock",
    doc: "Docker Engine API endpoint: a unix socket or tcp:// address.",
    group: "Docker",
  }),
  dockerRuntime: optional({
    env: "DOCKER_RUNTIME",
    schema: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "is not a runtime name (e.g. runsc, nvidia)"),
    example: "runsc",
    doc: "OCI runtime for job containers (e.g. `runsc` for gVisor); checked against the daemon's runtimes at start-up.",
    group: "Docker",
  }),
  imageAllowlist: optional({
    env: "IMAGE_ALLOWLIST",
    schema: list(text(), { min: 1 }),
    example: "ghcr.io/lamda-network/,docker.io/library/python,docker.io/pytorch/*",
    doc: "Only these images may run: exact names, prefixes ending in `/`, or globs with `*`. Unset: any image.",
    group: "Docker",
  }),
  imageRequireDigest: withDefault({
    env: "IMAGE_REQUIRE_DIGEST",
    schema: boolean(),
    default: "false",
    example: "true",
    doc: "Refuse image references without an `@sha256:` digest.",
    group: "Docker",
  }),
  registryAuthServer: optional({
    env: "REGISTRY_AUTH_SERVER",
    schema: z.string().trim().regex(/^[A-Za-z0-9.-]+(:\d+)?$/, "is not a registry host (e.g. ghcr.io)"),
    example: "ghcr.io",
    doc: "Registry host the credentials below are sent to; images from other registries are pulled anonymously.",
    group: "Docker",
  }),
  registryAuthUsername: optional({
    env: "REGISTRY_AUTH_USERNAME",
    schema: text(),
    example: "lamda-bot",
    doc: "Registry user name for pulls from REGISTRY_AUTH_SERVER.",
    group: "Docker",
  }),
  registryAuthPassword: optional({
    env: "REGISTRY_AUTH_PASSWORD",
    schema: text(),
    secret: true,
    example: "ghp_…",
    doc: "Registry password or token for REGISTRY_AUTH_SERVER. Never logged.",
    group: "Docker",
  }),
  pullTimeout: withDefault({
    env: "PULL_TIMEOUT",
    schema: duration({ min: 1000 }),
    default: "30m",
    example: "1h",
    doc: "Longest an image pull may take in total.",
    group: "Docker",
  }),
  pullInactivityTimeout: withDefault({
    env: "PULL_INACTIVITY_TIMEOUT",
    schema: duration({ min: 1000 }),
    default: "2m",
    example: "5m",
    doc: "A pull that reports no progress for this long is abandoned.",
    group: "Docker",
  }),
  dockerDataRoot: optional({
    env: "DOCKER_DATA_ROOT",
    schema: z.string().trim().regex(/^\/.*/, "is not an absolute path (e.g. /var/lib/docker)"),
    example: "/var/lib/docker",
    doc: "Docker's data root, whose filesystem the image watermarks measure. Unset: the daemon's `DockerRootDir`.",
    group: "Images",
  }),
  imageGcHighPercent: withDefault({
    env: "IMAGE_GC_HIGH_PERCENT",
    schema: integer(1, 100),
    default: "85",
    example: "90",
    doc:
      "When the data root's filesystem is fuller than this, images the agent pulled are removed, least recently used first.",
    group: "Images",
  }),
  imageGcLowPercent: withDefault({
    env: "IMAGE_GC_LOW_PERCENT",
    schema: integer(0, 99),
    default: "80",
    example: "70",
    doc: "Image removal stops once the data root's filesystem is at most this full (below IMAGE_GC_HIGH_PERCENT).",
    group: "Images",
  }),
  imageCacheMaxBytes: optional({
    env: "IMAGE_CACHE_MAX_BYTES",
    schema: byteSize(1),
    example: "200GiB",
    doc: "Most bytes of images the agent pulled that are kept, whatever the disk. Unset: no cap.",
    group: "Images",
  }),
  imageGcMinAge: withDefault({
    env: "IMAGE_GC_MIN_AGE",
    schema: duration(),
    default: "2m",
    example: "1h",
    doc: "An image pulled or used more recently than this is never removed.",
    group: "Images",
  }),
  imageGcInterval: withDefault({
    env: "IMAGE_GC_INTERVAL",
    schema: duration({ min: 1000 }),
    default: "5m",
    example: "1m",
    doc: "How often images are checked against the watermarks and the cap (also after every job).",
    group: "Images",
  }),
  imageKeep: optional({
    env: "IMAGE_KEEP",
    schema: list(text(), { min: 1 }),
    example: "docker.io/pytorch/*,ghcr.io/lamda-network/base",
    doc: "Images never removed (same syntax as IMAGE_ALLOWLIST).",
    group: "Images",
  }),
  imagePrepull: optional({
    env: "IMAGE_PREPULL",
    schema: list(text(), { min: 1 }),
    example: "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
    doc: "Images pulled at start-up in the background and kept; the node takes jobs meanwhile.",
    group: "Images",
  }),
  jobMemoryLimit: withDefault({
    env: "JOB_MEMORY_LIMIT",
    schema: byteSize(6 * 1024 * 1024),
    default: "16GiB",
    example: "64GiB",
    doc:
      "Memory of a job container (swap disabled: Memory == MemorySwap); a job's `resources.memory_mb` is capped to it.",
    group: "Docker",
  }),
  jobCpuLimit: withDefault({
    env: "JOB_CPU_LIMIT",
    schema: cpus(),
    default: "4",
    example: "8",
    doc: "CPUs of a job container (NanoCpus); a job's `resources.cpus` is capped to it.",
    group: "Docker",
  }),
  jobPidsLimit: withDefault({
    env: "JOB_PIDS_LIMIT",
    schema: integer(8, 1_000_000),
    default: "4096",
    example: "1024",
    doc: "Most processes and threads in a job container (stops fork bombs).",
    group: "Docker",
  }),
  jobShmSize: withDefault({
    env: "JOB_SHM_SIZE",
    schema: byteSize(1024 * 1024),
    default: "2GiB",
    example: "8GiB",
    doc: "Size of `/dev/shm` in job containers (data loaders use it).",
    group: "Docker",
  }),
  jobTmpfsSize: withDefault({
    env: "JOB_TMPFS_SIZE",
    schema: byteSize(1024 * 1024),
    default: "1GiB",
    example: "4GiB",
    doc: "Size of the tmpfs at `/tmp` (the rest of the root filesystem is read-only); counts against memory.",
    group: "Docker",
  }),
  jobNetwork: withDefault({
    env: "JOB_NETWORK",
    schema: oneOf(["none", "bridge"] as const),
    default: "none",
    example: "bridge",
    doc: "Network of job containers: `none` (loopback only) or `bridge` (outbound access).",
    group: "Docker",
  }),
  jobNetworkSandboxImage: withDefault({
    env: "JOB_NETWORK_SANDBOX_IMAGE",
    schema: z.string().trim().refine((s) => {
      if (s === "") return true;
      try {
        parseImageReference(s);
        return true;
      } catch {
        return false;
      }
    }, "is not an image reference (or empty to give each job container a network namespace of its own)"),
    default: "registry.k8s.io/pause:3.10",
    example: "registry.example.com/pause:3.10",
    emptyIsValue: true,
    doc: "With JOB_NETWORK=none: image of the holders whose empty network namespace job containers join, one job " +
      "at a time (a faster start; docs/docker.md). Empty: a namespace per job container.",
    group: "Docker",
  }),
  jobUser: optional({
    env: "JOB_USER",
    schema: z.string().trim().regex(/^\d+(:\d+)?$/, "is not uid[:gid] (e.g. 1000:1000)"),
    example: "1000:1000",
    doc: "Run job containers as this numeric uid[:gid] instead of the image's own user.",
    group: "Docker",
  }),
  jobTimeout: withDefault({
    env: "JOB_TIMEOUT",
    schema: duration({ min: 1000 }),
    default: "1h",
    example: "6h",
    doc: "Run time of a job that names no `timeout_seconds`.",
    group: "Docker",
  }),
  jobTimeoutMax: withDefault({
    env: "JOB_TIMEOUT_MAX",
    schema: duration({ min: 1000 }),
    default: "24h",
    example: "72h",
    doc: "Longest run time any job may ask for; longer `timeout_seconds` are capped to it.",
    group: "Docker",
  }),
  jobStopGrace: withDefault({
    env: "JOB_STOP_GRACE",
    schema: duration({ min: 0, max: 600_000 }),
    default: "10s",
    example: "30s",
    doc: "On timeout or cancel a container gets SIGTERM, then SIGKILL after this grace period.",
    group: "Docker",
  }),
  jobLogMaxBytes: withDefault({
    env: "JOB_LOG_MAX_BYTES",
    schema: byteSize(0),
    default: "1MiB",
    example: "10MiB",
    doc: "Job output copied into the agent's log per job; beyond it output is counted, not logged.",
    group: "Docker",
  }),
  jobLogTailBytes: withDefault({
    env: "JOB_LOG_TAIL_BYTES",
    schema: byteSize(0),
    default: "2KiB",
    example: "4KiB",
    doc: "Tail of a failed job's output quoted in its status message.",
    group: "Docker",
  }),
  jobContainerLogSize: withDefault({
    env: "JOB_CONTAINER_LOG_SIZE",
    schema: byteSize(1024 * 1024),
    default: "100MiB",
    example: "20MiB",
    doc: "Docker's own json-file log of a job container is capped at this size (two rotated files).",
    group: "Docker",
  }),
};
