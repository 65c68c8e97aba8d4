/** The Docker component's validators the job schema relies on, behind one small interface so tests can see the seam. */
import { parseImageReference, validateJobEnv, validateOutputPath } from "../docker/mod.ts";

/** Field checks owned by the Docker component; each throws on a value a container must never see. */
export interface SpecChecks {
  imageReference(ref: string): void;
  outputPath(path: string): string;
  env(env: Record<string, string>): Record<string, string>;
}

/** The real checks from `src/docker`. */
export const dockerSpecChecks: SpecChecks = {
  imageReference: (ref) => void parseImageReference(ref),
  outputPath: (path) => validateOutputPath(path),
  env: (env) => validateJobEnv(env),
};
