/** The command table. */
import { doctorCommand } from "../agent/doctor.ts";
import { runCommand } from "../agent/run_command.ts";
import { verifyReceiptCommand } from "../agent/receipt_command.ts";
import { followCommand, submitCommand } from "../agent/submit.ts";
import { cancelCommand } from "../agent/cancel_command.ts";
import { drainOnCommand, undrainCommand } from "../agent/drain.ts";
import { keygenCommand } from "../chain/keygen.ts";
import { createRegisterCommand, statusCommand } from "../chain/mod.ts";
import { detectGpus, gpuCommand, gpuOptionsFromConfig, registrationSpec } from "../gpu/mod.ts";
import { permissionsCommand } from "../permissions/mod.ts";
import { ipfsDevCommand } from "../storage/mod.ts";
import { jobsCommand } from "../job/mod.ts";
import { configCommand, versionCommand } from "./basic_commands.ts";
import type { Command } from "../command.ts";

/** `register`, detecting the GPUs with the loaded config unless --gpu-model/--vram are given. */
const registerCommand: Command = {
  ...createRegisterCommand(),
  usesKey: true,
  run(ctx) {
    const detect = async (signal: AbortSignal) => {
      const spec = registrationSpec(await detectGpus({ ...gpuOptionsFromConfig(ctx.loaded.config), signal }));
      return { gpuModel: spec.gpuModel, vram: BigInt(spec.vram) };
    };
    return createRegisterCommand(detect).run(ctx);
  },
};

/** Every command, in help order. */
export const COMMANDS: Command[] = [
  runCommand,
  gpuCommand,
  registerCommand,
  { ...statusCommand, usesKey: true },
  verifyReceiptCommand,
  doctorCommand,
  submitCommand,
  followCommand,
  cancelCommand,
  jobsCommand,
  drainOnCommand,
  undrainCommand,
  keygenCommand,
  permissionsCommand,
  ipfsDevCommand,
  versionCommand,
  configCommand,
];

/** The command run when none is named. */
export const DEFAULT_COMMAND: Command = runCommand;
