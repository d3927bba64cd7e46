// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ReentrantAccount — a malicious payer or payee contract that calls back when it receives coin
/// @notice Test-only; never deploy it anywhere that matters. `execute` forwards a call (with value) to
/// `target`, so this contract can open channels, request closes and close cooperatively. After
/// `arm(data, value, bubble)`, the next native payment it receives first calls `target` with `data` and
/// `value` wei, once, and records the outcome; with `bubble` a failed call makes `receive` revert with the same data.
contract ReentrantAccount {
    address public immutable target;
    bytes private _hookData;
    uint256 private _hookValue;
    bool public armed;
    bool public bubble;
    bool public hookCalled;
    bool public hookSucceeded;
    bytes public hookResult;

    constructor(address target_) payable {
        target = target_;
    }

    /// @notice Calls `target` with `data` and `value` wei from this contract's balance; bubbles a revert.
    function execute(bytes calldata data, uint256 value) external returns (bytes memory result) {
        bool ok;
        (ok, result) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
    }

    /// @notice Calls `target` with `data` and `value` wei when the next native payment arrives.
    function arm(bytes calldata data, uint256 value, bool bubble_) external {
        _hookData = data;
        _hookValue = value;
        bubble = bubble_;
        armed = true;
        hookCalled = false;
        hookSucceeded = false;
        delete hookResult;
    }

    /// @notice Makes the armed call now, outside any transfer, and records the outcome: shows that the
    /// call is valid on its own and only its timing (re-entry) made it fail.
    function replay() external {
        (bool ok, bytes memory result) = target.call{value: _hookValue}(_hookData);
        hookSucceeded = ok;
        hookResult = result;
    }

    /// @notice Cancels a pending `arm`.
    function disarm() external {
        armed = false;
    }

    receive() external payable {
        if (!armed) return;
        armed = false;
        hookCalled = true;
        (bool ok, bytes memory result) = target.call{value: _hookValue}(_hookData);
        hookSucceeded = ok;
        hookResult = result;
        if (!ok && bubble) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
    }
}
