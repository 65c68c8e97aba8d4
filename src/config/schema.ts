/** The one table of every configuration variable, assembled from each component's section. */
import type { ConfigOf, VarSpec } from "./spec.ts";
import { coreVars } from "./vars/core.ts";
import { gpuVars } from "./vars/gpu.ts";
import { dockerVars } from "./vars/docker.ts";
import { chainVars } from "./vars/chain.ts";
import { busVars } from "./vars/bus.ts";
import { storageVars } from "./vars/storage.ts";
import { agentVars } from "./vars/agent.ts";

/** Every variable the agent reads, keyed by its config field name. */
export const VARS = {
  ...coreVars,
  ...gpuVars,
  ...dockerVars,
  ...chainVars,
  ...busVars,
  ...storageVars,
  ...agentVars,
} satisfies Record<string, VarSpec>;

/** The validated, typed configuration. */
export type Config = ConfigOf<typeof VARS>;

/** A config field name. */
export type ConfigKey = keyof typeof VARS;

/** The specs as a list, in declaration order. */
export function varList(): [ConfigKey, VarSpec][] {
  return Object.entries(VARS) as [ConfigKey, VarSpec][];
}

/** The CLI flag that sets a variable: `LOG_LEVEL` → `--log-level`. */
export function flagName(env: string): string {
  return `--${env.toLowerCase().replaceAll("_", "-")}`;
}
