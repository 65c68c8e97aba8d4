/** Installs the fake nvidia-smi in a temporary directory, pointed at one recorded fixture. */

const SCRIPT = new URL("./fake_nvidia_smi.sh", import.meta.url);
const FIXTURES = new URL("../../testdata/nvidia-smi/", import.meta.url);

/** A fake nvidia-smi on disk; removed on dispose. */
export interface FakeNvidiaSmi extends AsyncDisposable {
  /** Directory holding `nvidia-smi`: put it first on PATH. */
  dir: string;
  /** Absolute path of the fake executable. */
  path: string;
  /** Environment that puts the fake first on PATH. */
  env: Record<string, string>;
  /** The argument lists the fake was called with, in order, each as `[args]`. */
  calls(): Promise<string[]>;
}

/** Options of {@linkcode fakeNvidiaSmi}. */
export interface FakeNvidiaSmiOptions {
  /** Sleep this long instead of answering (a hung driver). */
  hangSeconds?: number;
  /** Recordings (`list.txt`, `health.csv`, …) to answer as missing: that query exits 2, the others still work. */
  withhold?: string[];
}

/** Creates a fake replaying `testdata/nvidia-smi/<fixture>`; see {@linkcode FakeNvidiaSmiOptions}. */
export async function fakeNvidiaSmi(fixture: string, options: FakeNvidiaSmiOptions = {}): Promise<FakeNvidiaSmi> {
  const fixtureDir = new URL(`${fixture}/`, FIXTURES).pathname;
  await Deno.stat(fixtureDir); // fail early on a typo
  const dir = await Deno.makeTempDir({ prefix: "fake-nvidia-smi-" });
  const path = `${dir}/nvidia-smi`;
  await Deno.copyFile(SCRIPT, path);
  await Deno.chmod(path, 0o755);
  await Deno.writeTextFile(`${dir}/fixture`, fixtureDir);
  if (options.hangSeconds !== undefined) await Deno.writeTextFile(`${dir}/sleep`, String(options.hangSeconds));
  if (options.withhold?.length) await Deno.writeTextFile(`${dir}/withhold`, options.withhold.join("\n") + "\n");
  return {
    dir,
    path,
    env: { PATH: `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
    async calls() {
      try {
        return (await Deno.readTextFile(`${dir}/calls.log`)).split("\n").filter((l) => l !== "");
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return [];
        throw err;
      }
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}
