/** Outputs waiting for upload, kept in `DATA_DIR/spool/<job>` so they survive restarts until uploaded or expired. */
import { z } from "zod";

/** One spooled output. */
export interface SpooledOutput {
  jobId: string;
  agentAddress: string;
  /** The spooled directory holding the job's output. */
  dir: string;
  /** When it was spooled (ms since epoch). */
  createdAt: number;
  /** Upload attempts so far (across restarts). */
  attempts: number;
  lastError?: string;
}

const Meta = z.object({
  jobId: z.string(),
  agentAddress: z.string(),
  createdAt: z.number(),
  attempts: z.number().int().nonnegative(),
  lastError: z.string().optional(),
});

const JOB_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The spool directory and its entries. */
export class OutputSpool {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = `${dataDir}/spool`;
  }

  /** Whether `jobId` can name a spool entry (the job id grammar, never `.` or `..`). */
  static isEntryName(jobId: string): boolean {
    return JOB_ID.test(jobId) && jobId !== "." && jobId !== "..";
  }

  #entry(jobId: string): string {
    if (!OutputSpool.isEntryName(jobId)) {
      throw new Error(`Invalid job id ${JSON.stringify(jobId)}`);
    }
    return `${this.root}/${jobId}`;
  }

  /** Moves `outputDir` into the spool (rename; copy when on another filesystem) and records its metadata. */
  async add(outputDir: string, jobId: string, agentAddress: string, now = Date.now()): Promise<SpooledOutput> {
    const entry = this.#entry(jobId);
    await Deno.remove(entry, { recursive: true }).catch(() => {});
    await Deno.mkdir(entry, { recursive: true });
    const dir = `${entry}/output`;
    try {
      await Deno.rename(outputDir, dir);
    } catch (error) {
      if (!(error instanceof Error && /cross-device|EXDEV|os error 18/i.test(error.message))) throw error;
      await copyTree(outputDir, dir);
      await Deno.remove(outputDir, { recursive: true });
    }
    const meta = { jobId, agentAddress, createdAt: now, attempts: 0 };
    await this.#writeMeta(entry, meta);
    return { ...meta, dir };
  }

  /** Records an attempt's outcome. */
  async recordAttempt(jobId: string, error?: string): Promise<void> {
    const current = await this.get(jobId);
    if (!current) return;
    const { dir: _dir, ...meta } = current;
    await this.#writeMeta(this.#entry(jobId), { ...meta, attempts: meta.attempts + 1, lastError: error });
  }

  /** One spooled output, or `undefined`. */
  async get(jobId: string): Promise<SpooledOutput | undefined> {
    const entry = this.#entry(jobId);
    try {
      const meta = Meta.parse(JSON.parse(await Deno.readTextFile(`${entry}/meta.json`)));
      return { ...meta, dir: `${entry}/output` };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /** Every spooled output, oldest first; entries without valid metadata are skipped. */
  async list(): Promise<SpooledOutput[]> {
    const out: SpooledOutput[] = [];
    try {
      for await (const e of Deno.readDir(this.root)) {
        if (!e.isDirectory || !JOB_ID.test(e.name)) continue;
        const item = await this.get(e.name).catch(() => undefined);
        if (item) out.push(item);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Deletes a spooled output (after upload). */
  async remove(jobId: string): Promise<void> {
    await Deno.remove(this.#entry(jobId), { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Deletes outputs spooled more than `ttlMs` ago, but those of `busy` jobs; returns their job ids. */
  async expire(ttlMs: number, now = Date.now(), busy: ReadonlySet<string> = new Set()): Promise<string[]> {
    const gone: string[] = [];
    for (const item of await this.list()) {
      if (now - item.createdAt > ttlMs && !busy.has(item.jobId)) {
        await this.remove(item.jobId);
        gone.push(item.jobId);
      }
    }
    return gone;
  }

  async #writeMeta(entry: string, meta: z.infer<typeof Meta>): Promise<void> {
    const tmp = `${entry}/meta.json.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(meta));
    await Deno.rename(tmp, `${entry}/meta.json`);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const info = await Deno.lstat(`${from}/${e.name}`);
    if (info.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (info.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
    else throw new Error(`Cannot spool ${e.name}: not a regular file or directory`);
  }
}
