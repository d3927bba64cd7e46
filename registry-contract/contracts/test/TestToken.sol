// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken — a mintable ERC-20 for tests, optionally charging a fee on every transfer
/// @dev Test-only. `feeBps` (basis points) is burned from each transfer to exercise fee-on-transfer handling.
contract TestToken is ERC20 {
    uint16 public immutable feeBps;

    constructor(uint16 feeBps_) ERC20("Trickle Test Token", "TTT") {
        feeBps = feeBps_;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (feeBps == 0 || from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
