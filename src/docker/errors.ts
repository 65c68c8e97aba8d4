/** Errors of the Docker component beyond the transport ones in `client.ts`. */

/** The text that tells an operator how to give Docker GPUs. */
export const NVIDIA_FIX =
  "install nvidia-container-toolkit, run `nvidia-ctk runtime configure --runtime=docker`, then restart dockerd";

/** A container with this job's deterministic name already exists: the job attempt is (or was) already running. */
export class ContainerExistsError extends Error {
  override name = "ContainerExistsError";
  /** The deterministic container name that collided. */
  readonly containerName: string;
  constructor(containerName: string, options?: ErrorOptions) {
    super(`container ${containerName} already exists: this job attempt was already created`, options);
    this.containerName = containerName;
  }
}

/** The daemon cannot give a container GPUs; the message carries the daemon's own words and the fix. */
export class GpuUnavailableError extends Error {
  override name = "GpuUnavailableError";
  constructor(detail: string, options?: ErrorOptions) {
    super(`GPUs are not available to Docker: ${detail} — ${NVIDIA_FIX}`, options);
  }
}

/** The operator's image policy refuses an image (allowlist or digest rule). */
export class ImagePolicyError extends Error {
  override name = "ImagePolicyError";
  /** The image reference refused. */
  readonly image: string;
  constructor(image: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.image = image;
  }
}

/** An image could not be pulled or verified. */
export class ImagePullError extends Error {
  override name = "ImagePullError";
  /** The image reference that failed. */
  readonly image: string;
  constructor(image: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.image = image;
  }
}

/** The daemon cannot serve this agent (API too old, configured runtime missing). */
export class DockerSetupError extends Error {
  override name = "DockerSetupError";
}

/**
 * What a job needs does not fit on the node's disk (an image in Docker's data root): the job fails `disk_full` before
 * the bytes are downloaded. The message names sizes, never host paths.
 */
export class DiskSpaceError extends Error {
  override name = "DiskSpaceError";
}

/**
 * The image's CUDA requirement (`NVIDIA_REQUIRE_CUDA`) is not met by the node's driver: the job fails
 * `cuda_unsupported` before a container is created. The message names both versions and the fix.
 */
export class CudaUnsupportedError extends Error {
  override name = "CudaUnsupportedError";
  /** The image reference refused. */
  readonly image: string;
  constructor(image: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.image = image;
  }
}
