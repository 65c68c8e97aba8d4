/** Puts the GasPriceOracle stand-in (testdata/GasPriceOracle.sol) at the OP-Stack predeploy address on anvil. */
import solc from "solc";
import { GAS_PRICE_ORACLE_ADDRESS } from "../../src/chain/mod.ts";
import type { Anvil } from "../support/anvil.ts";

/** The stand-in's source. */
export const ORACLE_SOURCE_URL: URL = new URL("./testdata/GasPriceOracle.sol", import.meta.url);

/** The stand-in compiled: its ABI and runtime bytecode (what `anvil_setCode` installs). */
export interface CompiledOracle {
  abi: unknown[];
  runtime: string;
}

let compiled: CompiledOracle | undefined;

/** Compiles the stand-in with npm solc (once per process). */
export async function compileOracle(): Promise<CompiledOracle> {
  if (compiled) return compiled;
  const input = {
    language: "Solidity",
    sources: { "GasPriceOracle.sol": { content: await Deno.readTextFile(ORACLE_SOURCE_URL) } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "paris",
      outputSelection: { "*": { "*": ["abi", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { deployedBytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  const contract = output.contracts["GasPriceOracle.sol"]["GasPriceOracle"];
  compiled = { abi: contract.abi, runtime: `0x${contract.evm.deployedBytecode.object}` };
  return compiled;
}

/** Installs the stand-in at 0x4200…000F on `anvil` (as on an OP-Stack chain such as opBNB). */
export async function installOracle(anvil: Anvil): Promise<void> {
  const { runtime } = await compileOracle();
  await anvil.rpc("anvil_setCode", [GAS_PRICE_ORACLE_ADDRESS, runtime]);
}

/** Removes it again: plain anvil, no L1 data fee. */
export async function removeOracle(anvil: Anvil): Promise<void> {
  await anvil.rpc("anvil_setCode", [GAS_PRICE_ORACLE_ADDRESS, "0x"]);
}
