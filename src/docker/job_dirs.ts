/** Per-job host directories: the input mounted read-only and the output the container writes. */
import { join, resolve } from "node:path";

/** The host directories of one job attempt. */
export interface JobDirs {
  root: string;
  input: string;
  output: string;
}

/** Creates `<base>/<job>-a<attempt>/{input,output}`; the output is world-writable so any container user can write. */
export async function createJobDirs(base: string, jobId: string, attempt: number): Promise<JobDirs> {
  const safe = jobId.replace(/[^A-Za-z0-9._-]/g, "_");
  // Bind-mount sources must be absolute, whatever the working directory of the caller.
  const root = join(resolve(base), `${safe}-a${attempt}`);
  const dirs = { root, input: join(root, "input"), output: join(root, "output") };
  await Deno.mkdir(dirs.input, { recursive: true, mode: 0o755 });
  await Deno.mkdir(dirs.output, { recursive: true });
  // A container root without CAP_DAC_OVERRIDE is "other" to a directory the agent owns.
  await Deno.chmod(dirs.output, 0o777);
  return dirs;
}

/** Removes a job's directories; already gone is fine. */
export async function removeJobDirs(dirs: JobDirs): Promise<void> {
  try {
    await Deno.remove(dirs.root, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
