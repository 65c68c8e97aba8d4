/**
 * The Docker component's validators in the shape the job schema takes them (`SpecChecks` in src/job/schema.ts): the
 * composition root hands them to the job runner, so neither component imports the other.
 */
import { parseImageReference } from "./reference.ts";
import { validateJobEnv, validateOutputPath } from "./rules.ts";

/** The real checks: each throws on a value a container must never see. */
export const dockerSpecChecks = {
  imageReference: (ref: string): void => void parseImageReference(ref),
  outputPath: (path: string): string => validateOutputPath(path),
  env: (env: Record<string, string>): Record<string, string> => validateJobEnv(env),
};
