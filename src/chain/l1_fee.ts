/** The L1 data fee of OP-Stack chains (opBNB): every transaction pays it on top of its L2 gas. */
import { Interface, type Provider } from "ethers";
import { ChainError, shortMessage } from "./errors.ts";

/** The OP-Stack GasPriceOracle predeploy (the same address on opBNB mainnet and testnet, and every OP-Stack chain). */
export const GAS_PRICE_ORACLE_ADDRESS = "0x420000000000000000000000000000000000000F";

/**
 * The one GasPriceOracle function the agent calls, as declared in the OP-Stack source
 * (`packages/contracts-bedrock/src/L2/GasPriceOracle.sol`): `_data` is the unsigned, fully RLP-encoded transaction.
 */
export const GAS_PRICE_ORACLE_INTERFACE: Interface = new Interface([
  "function getL1Fee(bytes _data) view returns (uint256)",
]);

/**
 * Asks the chain's GasPriceOracle for the L1 fee of a transaction. Whether the predeploy exists is read once per
 * session (one `eth_getCode`); where it does not (anvil, an L1) the fee is 0 and nothing more is asked.
 */
export class L1FeeOracle {
  readonly #provider: Provider;
  #present?: boolean;

  constructor(provider: Provider) {
    this.#provider = provider;
  }

  /** Whether the chain has the GasPriceOracle predeploy; a failed read is retried next time, an answer is kept. */
  async present(): Promise<boolean> {
    if (this.#present === undefined) {
      let code: string;
      try {
        code = await this.#provider.getCode(GAS_PRICE_ORACLE_ADDRESS);
      } catch (error) {
        throw new ChainError(`Cannot read the GasPriceOracle code: ${shortMessage(error)}`, { cause: error });
      }
      this.#present = code !== "0x";
    }
    return this.#present;
  }

  /** The L1 fee in wei of the transaction `unsignedTx` (RLP, unsigned); 0 without the predeploy. One `eth_call`. */
  async fee(unsignedTx: string): Promise<bigint> {
    if (!(await this.present())) return 0n;
    let answer: string;
    try {
      answer = await this.#provider.call({
        to: GAS_PRICE_ORACLE_ADDRESS,
        data: GAS_PRICE_ORACLE_INTERFACE.encodeFunctionData("getL1Fee", [unsignedTx]),
      });
    } catch (error) {
      throw new ChainError(`Cannot read the L1 fee from the GasPriceOracle: ${shortMessage(error)}`, { cause: error });
    }
    try {
      return GAS_PRICE_ORACLE_INTERFACE.decodeFunctionResult("getL1Fee", answer)[0] as bigint;
    } catch (error) {
      throw new ChainError(`The GasPriceOracle answered getL1Fee with ${answer.slice(0, 74)}`, { cause: error });
    }
  }
}
