/**
 * Real `NVIDIA_REQUIRE_CUDA` values of NVIDIA's published CUDA images, verbatim. NVIDIA keeps the Dockerfiles at
 * gitlab.com/nvidia/container-images/cuda (`dist/<version>/<os>/base/Dockerfile`, the `base-amd64` stage); the copies
 * read for these are GitHub mirrors of that tree: taehun-kmu/FMCL-Docker (12.4.1 at 53a6a109, 11.8.0 at 098adf05) and
 * pranavmishra90/nvidia-container-images-cuda (12.8.1 at a7c9be98). The 12.8.1 value is also what
 * `docker inspect` shows for images built on `nvidia/cuda:12.8.1-runtime`.
 */

/** `nvidia/cuda:12.4.1-base-ubuntu22.04` (amd64): CUDA 12.4, or a 470, 525 or 535 driver of any listed brand. */
export const CUDA_12_4_1 =
  "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471 brand=tesla,driver>=525,driver<526 brand=unknown,driver>=525,driver<526 brand=nvidia,driver>=525,driver<526 brand=nvidiartx,driver>=525,driver<526 brand=geforce,driver>=525,driver<526 brand=geforcertx,driver>=525,driver<526 brand=quadro,driver>=525,driver<526 brand=quadrortx,driver>=525,driver<526 brand=titan,driver>=525,driver<526 brand=titanrtx,driver>=525,driver<526 brand=tesla,driver>=535,driver<536 brand=unknown,driver>=535,driver<536 brand=nvidia,driver>=535,driver<536 brand=nvidiartx,driver>=535,driver<536 brand=geforce,driver>=535,driver<536 brand=geforcertx,driver>=535,driver<536 brand=quadro,driver>=535,driver<536 brand=quadrortx,driver>=535,driver<536 brand=titan,driver>=535,driver<536 brand=titanrtx,driver>=535,driver<536";

/** `nvidia/cuda:11.8.0-base-ubuntu22.04` (amd64): CUDA 11.8, or a 450 Tesla driver, or a 470 driver. */
export const CUDA_11_8_0 =
  "cuda>=11.8 brand=tesla,driver>=450,driver<451 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471";

/** `nvidia/cuda:11.8.0-base-ubuntu22.04` (arm64 `base-arm64` stage of the same Dockerfile): CUDA 11.8 only. */
export const CUDA_11_8_0_ARM64 = "cuda>=11.8";

/**
 * `nvidia/cuda:12.8.1-base-ubuntu24.04` (amd64): CUDA 12.8, or a 470, 535, 550, 560 or 565 driver; GeForce and TITAN
 * brands are no longer listed.
 */
export const CUDA_12_8_1 =
  "cuda>=12.8 brand=unknown,driver>=470,driver<471 brand=grid,driver>=470,driver<471 brand=tesla,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=vapps,driver>=470,driver<471 brand=vpc,driver>=470,driver<471 brand=vcs,driver>=470,driver<471 brand=vws,driver>=470,driver<471 brand=cloudgaming,driver>=470,driver<471 brand=unknown,driver>=535,driver<536 brand=grid,driver>=535,driver<536 brand=tesla,driver>=535,driver<536 brand=nvidia,driver>=535,driver<536 brand=quadro,driver>=535,driver<536 brand=quadrortx,driver>=535,driver<536 brand=nvidiartx,driver>=535,driver<536 brand=vapps,driver>=535,driver<536 brand=vpc,driver>=535,driver<536 brand=vcs,driver>=535,driver<536 brand=vws,driver>=535,driver<536 brand=cloudgaming,driver>=535,driver<536 brand=unknown,driver>=550,driver<551 brand=grid,driver>=550,driver<551 brand=tesla,driver>=550,driver<551 brand=nvidia,driver>=550,driver<551 brand=quadro,driver>=550,driver<551 brand=quadrortx,driver>=550,driver<551 brand=nvidiartx,driver>=550,driver<551 brand=vapps,driver>=550,driver<551 brand=vpc,driver>=550,driver<551 brand=vcs,driver>=550,driver<551 brand=vws,driver>=550,driver<551 brand=cloudgaming,driver>=550,driver<551 brand=unknown,driver>=560,driver<561 brand=grid,driver>=560,driver<561 brand=tesla,driver>=560,driver<561 brand=nvidia,driver>=560,driver<561 brand=quadro,driver>=560,driver<561 brand=quadrortx,driver>=560,driver<561 brand=nvidiartx,driver>=560,driver<561 brand=vapps,driver>=560,driver<561 brand=vpc,driver>=560,driver<561 brand=vcs,driver>=560,driver<561 brand=vws,driver>=560,driver<561 brand=cloudgaming,driver>=560,driver<561 brand=unknown,driver>=565,driver<566 brand=grid,driver>=565,driver<566 brand=tesla,driver>=565,driver<566 brand=nvidia,driver>=565,driver<566 brand=quadro,driver>=565,driver<566 brand=quadrortx,driver>=565,driver<566 brand=nvidiartx,driver>=565,driver<566 brand=vapps,driver>=565,driver<566 brand=vpc,driver>=565,driver<566 brand=vcs,driver>=565,driver<566 brand=vws,driver>=565,driver<566 brand=cloudgaming,driver>=565,driver<566";

/**
 * A legacy (nvidia-docker 1.0) image: NVIDIA/nvidia-docker `ubuntu-14.04/cuda/8.0/runtime/Dockerfile` (at 0b4480b6)
 * sets `ENV CUDA_VERSION 8.0` and `LABEL com.nvidia.cuda.version="8.0"`, and no `NVIDIA_REQUIRE_CUDA`.
 */
export const LEGACY_CUDA_8_0_ENV = ["PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/bin:/bin", "CUDA_VERSION=8.0"];

/**
 * What Docker relays when the NVIDIA hook refuses an image (NVIDIA/nvidia-docker issue #1442, docker 19.03; the
 * message libnvidia-container's `dsl.c` builds for an unmet `cuda>=` term).
 */
export const HOOK_REFUSAL =
  "OCI runtime create failed: container_linux.go:370: starting container process caused: process_linux.go:459: " +
  "container init caused: Running hook #0:: error running hook: exit status 1, stdout: , stderr: " +
  "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=11.0, please update your driver to a " +
  "newer version, or use an earlier cuda container: unknown";
