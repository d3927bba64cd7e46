// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken — a malicious ERC-20 that calls back into a target in the middle of a transfer
/// @notice Test-only; never deploy it anywhere that matters. After `arm(data, bubble)`, the next transfer
/// that moves tokens to or from `target` first calls `target` with `data` (this contract is the caller),
/// once. The outcome is recorded in `hookSucceeded` / `hookResult`; with `bubble` a failed call makes the
/// transfer itself revert with the same data.
/// @dev Models the balance-delta double-credit attack (re-enter `open`/`topUp` while a deposit is being
/// pulled) and re-entry during payouts (`claim`, `finalize`, `closeWithReceipt`).
contract ReentrantToken is ERC20 {
    address public immutable target;
    bytes private _hookData;
    bool public armed;
    bool public bubble;
    bool public hookCalled;
    bool public hookSucceeded;
    bytes public hookResult;

    constructor(address target_) ERC20("Reentrant Test Token", "RTT") {
        target = target_;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Lets `target` pull this contract's own tokens, so re-entrant `open`/`topUp` calls can pay.
    function approveFromSelf(address spender, uint256 amount) external {
        _approve(address(this), spender, amount);
    }

    /// @notice Calls `target` with `data` during the next transfer to or from it.
    function arm(bytes calldata data, bool bubble_) external {
        _hookData = data;
        bubble = bubble_;
        armed = true;
        hookCalled = false;
        hookSucceeded = false;
        delete hookResult;
    }

    /// @notice Makes the armed call now, outside any transfer, and records the outcome: shows that the
    /// call is valid on its own and only its timing (re-entry) made it fail.
    function replay() external {
        (bool ok, bytes memory result) = target.call(_hookData);
        hookSucceeded = ok;
        hookResult = result;
    }

    /// @notice Cancels a pending `arm`.
    function disarm() external {
        armed = false;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (armed && (from == target || to == target)) {
            armed = false;
            hookCalled = true;
            (bool ok, bytes memory result) = target.call(_hookData);
            hookSucceeded = ok;
            hookResult = result;
            if (!ok && bubble) {
                assembly ("memory-safe") {
                    revert(add(result, 32), mload(result))
                }
            }
        }
        super._update(from, to, value);
    }
}
