// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Test stand-in for the OP-Stack GasPriceOracle predeploy (0x420000000000000000000000000000000000000F), installed
/// on anvil with anvil_setCode. getL1Fee has the real signature and computes the Bedrock formula of
/// ethereum-optimism packages/contracts-bedrock/src/L2/GasPriceOracle.sol (_getL1FeeBedrock: calldata gas of the
/// unsigned transaction + 68 * 16 for the signature, plus the fixed overhead, times the L1 base fee and the scalar)
/// with opBNB's documented parameters (fixed overhead 2100, scalar 1.0) and an exaggerated L1 gas price of
/// 2500 gwei, so a heartbeat's L1 fee is about 0.01 BNB and dwarfs its L2 gas. Constants only: anvil_setCode
/// installs runtime code without running a constructor.
contract GasPriceOracle {
    uint256 public constant DECIMALS = 6;
    uint256 public constant L1_BASE_FEE = 2500 gwei;
    uint256 public constant OVERHEAD = 2100;
    uint256 public constant SCALAR = 1_000_000;

    function getL1Fee(bytes memory _data) external view returns (uint256) {
        uint256 total = 0;
        for (uint256 i = 0; i < _data.length; i++) {
            total += _data[i] == 0 ? 4 : 16;
        }
        total += 68 * 16;
        return ((total + OVERHEAD) * L1_BASE_FEE * SCALAR) / (10 ** DECIMALS);
    }
}
