/** Per-job host directories: the input mounted read-only and the output the container writes. */
import { join, resolve } from "node:path";
import { jobSlug } from "./job_name.ts";

/** The host directories of one job attempt. */
export interface JobDirs {
  root: string;
  input: string;
  output: string;
}

/**
 * Where one attempt's directories are: `<base>/<job slug>-a<attempt>/{input,output}`, the slug being the one container
 * names use (sanitized id + hash of the exact id), so two job ids never share a directory. Pure: creates nothing.
 */
export function jobDirsOf(base: string, jobId: string, attempt: number): JobDirs {
  // Bind-mount sources must be absolute, whatever the working directory of the caller.
  const root = join(resolve(base), `${jobSlug(jobId)}-a${attempt}`);
  return { root, input: join(root, "input"), output: join(root, "output") };
}

/**
 * The directory an agent before the slug used (`:` folded to `_`), when it can only be this job's: job ids never hold
 * `_`, so for a valid id that name was unambiguous. An id ending in `-<8 hex>` is left out, because its old name is
 * then the current name of another job (`x-<hash of x>-a1` is job `x`'s) and must never be taken from it.
 */
function legacyRoot(base: string, jobId: string, attempt: number): string | undefined {
  if (!/^[A-Za-z0-9.:-]{1,128}$/.test(jobId) || /-[0-9a-f]{8}$/.test(jobId)) return undefined;
  return join(resolve(base), `${jobId.replaceAll(":", "_")}-a${attempt}`);
}

/**
 * Creates {@linkcode jobDirsOf}; the output is world-writable so any container user can write. Existing content stays
 * (a resumed attempt needs what its container wrote), unless `fresh`: an attempt run from the start (again, after a
 * restart) begins with empty directories, as its first run did.
 */
export async function createJobDirs(
  base: string,
  jobId: string,
  attempt: number,
  options: { fresh?: boolean } = {},
): Promise<JobDirs> {
  const dirs = jobDirsOf(base, jobId, attempt);
  const legacy = legacyRoot(base, jobId, attempt);
  if (legacy) await adoptLegacy(legacy, dirs.root);
  if (options.fresh) await removeJobDirs(dirs);
  await Deno.mkdir(dirs.input, { recursive: true, mode: 0o755 });
  await Deno.mkdir(dirs.output, { recursive: true });
  // A container root without CAP_DAC_OVERRIDE is "other" to a directory the agent owns.
  await Deno.chmod(dirs.output, 0o777);
  return dirs;
}

/**
 * Moves an older agent's directory of this attempt to its current name, so recovery after an upgrade finds the output
 * (a running container's bind mount follows the directory, not its name).
 */
async function adoptLegacy(legacy: string, root: string): Promise<void> {
  if (legacy === root) return;
  try {
    await Deno.lstat(root);
    return; // the current name exists: it wins
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    if ((await Deno.lstat(legacy)).isDirectory) await Deno.rename(legacy, root);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Removes a job's directories; already gone is fine. */
export async function removeJobDirs(dirs: JobDirs): Promise<void> {
  try {
    await Deno.remove(dirs.root, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
