/** The reference NodeReputation contract: compiled with npm solc, deployed to a local chain (anvil) by tests and devnets. */
import solc from "solc";
import { ContractFactory, type Signer } from "ethers";
import artifact from "../../contracts/NodeReputation.artifact.json" with { type: "json" };
import { ChainError } from "./errors.ts";
import { type NodeReputation, nodeReputation } from "./contract.ts";

/** Where the Solidity source lives, relative to this module. */
export const REFERENCE_SOURCE_URL: URL = new URL("../../contracts/NodeReputation.sol", import.meta.url);

/** Compiler settings; part of the artifact, so a recompile is comparable byte for byte. */
export const REFERENCE_COMPILER_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "paris",
  // No metadata hash: the bytecode then depends on the source and settings only, not on file paths.
  metadata: { bytecodeHash: "none", appendCBOR: false },
} as const;

/** A compiled contract: ABI and creation bytecode. */
export interface CompiledContract {
  compiler: string;
  abi: readonly unknown[];
  bytecode: string;
}

/** The committed compile output (`contracts/NodeReputation.artifact.json`), so tests need not start solc each time. */
export const REFERENCE_ARTIFACT: CompiledContract = artifact as CompiledContract;

/** Compiles `contracts/NodeReputation.sol` with the npm solc compiler; throws {@linkcode ChainError} on compile errors. */
export async function compileReferenceContract(source?: string): Promise<CompiledContract> {
  const content = source ?? await Deno.readTextFile(REFERENCE_SOURCE_URL);
  const input = {
    language: "Solidity",
    sources: { "NodeReputation.sol": { content } },
    settings: {
      ...REFERENCE_COMPILER_SETTINGS,
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length) {
    throw new ChainError(`Cannot compile NodeReputation.sol:\n${errors.map((e) => e.formattedMessage).join("\n")}`);
  }
  const compiled = output.contracts?.["NodeReputation.sol"]?.["NodeReputation"];
  if (!compiled) throw new ChainError("Cannot compile NodeReputation.sol: no NodeReputation contract in the output");
  return { compiler: solc.version(), abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };
}

/** Deploys the reference contract with `signer` (the deployer becomes its owner) and returns a bound contract. */
export async function deployReferenceContract(
  signer: Signer,
  compiled: CompiledContract = REFERENCE_ARTIFACT,
): Promise<NodeReputation> {
  const factory = new ContractFactory(compiled.abi as never, compiled.bytecode, signer);
  try {
    const contract = await factory.deploy();
    await contract.waitForDeployment();
    return nodeReputation(await contract.getAddress(), signer);
  } catch (error) {
    throw new ChainError("Cannot deploy the reference NodeReputation contract", { cause: error });
  }
}

// `deno run -A src/chain/reference_contract.ts artifact` rewrites the committed artifact after a source change;
// `… deploy <rpc-url> <chain-id>` deploys to a local network with DEPLOYER_PRIVATE_KEY (anvil account #0 by default).
if (import.meta.main) {
  const [action, rpcUrl, chainId] = Deno.args;
  if (action === "artifact") {
    const compiled = await compileReferenceContract();
    await Deno.writeTextFile(
      new URL("../../contracts/NodeReputation.artifact.json", import.meta.url),
      JSON.stringify(compiled, null, 2) + "\n",
    );
    console.log(`Wrote contracts/NodeReputation.artifact.json (${compiled.compiler})`);
  } else if (action === "deploy" && rpcUrl) {
    const { Wallet } = await import("ethers");
    const { FailoverRpcProvider } = await import("./provider.ts");
    const provider = new FailoverRpcProvider([rpcUrl], { chainId: Number(chainId ?? 31337), timeoutMs: 10_000 });
    const key = Deno.env.get("DEPLOYER_PRIVATE_KEY") ??
      "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    try {
      const contract = await deployReferenceContract(new Wallet(key, provider));
      console.log(contract.address);
    } finally {
      provider.destroy();
    }
  } else {
    console.error("usage: reference_contract.ts artifact | deploy <rpc-url> [chain-id]");
  }
}
