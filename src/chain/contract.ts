/** The NodeReputation contract: its real ABI, selectors, and typed read calls. */
import { Contract, type ContractRunner, Interface } from "ethers";
import abi from "./abi/NodeReputation.abi.json" with { type: "json" };
import { chainError } from "./errors.ts";

/** The real NodeReputation ABI (a copy of the deployed contract's ABI). */
export const NODE_REPUTATION_ABI: readonly unknown[] = abi;

/** The ABI as an ethers Interface (encoding calls, decoding events and custom errors). */
export const NODE_REPUTATION_INTERFACE: Interface = new Interface(abi);

/** Selector of `registerNode(string,uint256)`. */
export const REGISTER_NODE_SELECTOR = "0xf3ef747f";
/** Selector of `sendHeartbeat()`. */
export const SEND_HEARTBEAT_SELECTOR = "0x34f167a9";

/** What `providers(address)` returns. */
export interface ProviderRecord {
  gpuModel: string;
  /** MiB. */
  vram: bigint;
  /** Unix seconds of the last registration or heartbeat; 0 when never seen. */
  lastSeen: bigint;
  isRegistered: boolean;
}

/** A NodeReputation contract bound to an address and a runner (provider or signer). */
export class NodeReputation {
  /** The underlying ethers contract. */
  readonly contract: Contract;
  readonly address: string;
  readonly interface: Interface = NODE_REPUTATION_INTERFACE;

  constructor(address: string, runner: ContractRunner) {
    this.address = address;
    this.contract = new Contract(address, NODE_REPUTATION_INTERFACE, runner);
  }

  /** Reads `providers(address)`. */
  async provider(address: string): Promise<ProviderRecord> {
    try {
      const r = await this.contract.providers(address);
      return { gpuModel: r[0], vram: r[1], lastSeen: r[2], isRegistered: r[3] };
    } catch (error) {
      throw chainError(`Cannot read providers(${address})`, error, this.interface);
    }
  }

  /** Reads `getProviderInfo(address)`: the record and its successful job count. */
  async providerInfo(address: string): Promise<{ provider: ProviderRecord; jobCount: bigint }> {
    try {
      const [p, jobCount] = await this.contract.getProviderInfo(address);
      return { provider: { gpuModel: p[0], vram: p[1], lastSeen: p[2], isRegistered: p[3] }, jobCount };
    } catch (error) {
      throw chainError(`Cannot read getProviderInfo(${address})`, error, this.interface);
    }
  }

  /** Reads `isProviderActive(address)`. */
  async isActive(address: string): Promise<boolean> {
    try {
      return await this.contract.isProviderActive(address);
    } catch (error) {
      throw chainError(`Cannot read isProviderActive(${address})`, error, this.interface);
    }
  }

  /** Calldata of `registerNode(gpuModel, vram)`. */
  encodeRegister(gpuModel: string, vram: bigint): string {
    return this.interface.encodeFunctionData("registerNode", [gpuModel, vram]);
  }

  /** Calldata of `sendHeartbeat()`. */
  encodeHeartbeat(): string {
    return this.interface.encodeFunctionData("sendHeartbeat", []);
  }
}

/** Binds the NodeReputation ABI to `address`. */
export function nodeReputation(address: string, runner: ContractRunner): NodeReputation {
  return new NodeReputation(address, runner);
}
