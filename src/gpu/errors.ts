/** GPU inventory errors: one class, a `kind` per failure, each message carrying the fix. */

/** What went wrong while asking nvidia-smi. */
export type GpuErrorKind =
  | "not_found"
  | "permission_denied"
  | "driver_mismatch"
  | "driver_unreachable"
  | "no_devices"
  | "timeout"
  | "failed"
  | "invalid_output";

/** A GPU inventory failure. `kind` is stable for programs; `message` is for operators and says how to fix it. */
export class GpuError extends Error {
  override name = "GpuError";
  readonly kind: GpuErrorKind;
  /** The nvidia-smi exit code, when the process ran. */
  readonly exitCode?: number;
  constructor(kind: GpuErrorKind, message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.exitCode = options.exitCode;
  }
}

/** The message for a missing binary, word for word what operators search for. */
export const NOT_FOUND_MESSAGE =
  "nvidia-smi not found: install the NVIDIA driver, or set GPU_REQUIRED=false for a CPU-only development node";

/**
 * Turns a failed nvidia-smi run into a {@linkcode GpuError}. nvidia-smi prints its own failures on stdout, so both
 * streams are read; the exit code only decides that something failed, the text decides what.
 */
export function classifyFailure(code: number, stdout: string, stderr: string): GpuError {
  const text = `${stdout}\n${stderr}`;
  const firstLine = text.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
  if (/Driver\/library version mismatch/i.test(text)) {
    const lib = /NVML library version:\s*([0-9.]+)/i.exec(text)?.[1];
    return new GpuError(
      "driver_mismatch",
      "nvidia-smi failed: the loaded NVIDIA kernel module and the installed driver libraries have different versions " +
        `(Driver/library version mismatch${lib ? `, NVML library version ${lib}` : ""}). ` +
        "This usually follows a driver upgrade without a reboot: reboot the host so the new kernel module loads, " +
        "or reinstall the driver so kernel module and libraries match (compare `cat /proc/driver/nvidia/version` " +
        "with the library version).",
      { exitCode: code },
    );
  }
  if (/couldn't communicate with the NVIDIA driver/i.test(text) || /NVIDIA-SMI has failed/i.test(text)) {
    return new GpuError(
      "driver_unreachable",
      "nvidia-smi failed: it could not communicate with the NVIDIA driver (the kernel module is not loaded). " +
        "Check `lsmod | grep nvidia` and `dmesg | grep -i nvrm`; reinstall the driver for the running kernel " +
        "(a kernel update without DKMS rebuild is the usual cause) or reboot.",
      { exitCode: code },
    );
  }
  if (/No devices were found/i.test(text)) {
    return new GpuError(
      "no_devices",
      "nvidia-smi found no NVIDIA GPU: check that the GPUs are visible (`lspci | grep -i nvidia`) and not " +
        "excluded, or set GPU_REQUIRED=false for a CPU-only development node",
      { exitCode: code },
    );
  }
  return new GpuError(
    "failed",
    `nvidia-smi exited with code ${code}: ${firstLine.slice(0, 300) || "no output"}`,
    { exitCode: code },
  );
}
