// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title StreamChannels — unidirectional payment channels paid by cumulative EIP-712 receipts
/// @notice A payer escrows a deposit (native coin or an ERC-20) for a payee. The payer (or a signer key
/// it names) signs receipts over the channel's cumulative amount; the payee claims the latest one at any
/// time. The payer gets back what was not claimed after a challenge period. Design after The Graph's
/// TAP escrow and x402's deferred scheme: cumulative vouchers, thaw/challenge period, authorized signers.
/// @dev Receipts are EIP-712 typed data, domain {name: "Trickle StreamChannels", version: "1", chainId,
/// verifyingContract: this}, type `Receipt(bytes32 channelId,uint256 cumulativeAmount,uint64 seq,bytes32 ackHash)`.
/// A receipt is bound to one chain, one contract and one channel; a stale receipt can never lower what
/// is owed, and no channel ever pays out more than its deposit.
///
/// Fee-on-transfer tokens: deposits are credited by the contract's balance delta, so the channel holds
/// what actually arrived; payouts of such tokens then deliver less than `paid` to the payee (the token's
/// fee), which the contract cannot prevent. Rebasing tokens are not supported.
///
/// Re-entrancy: every call that moves money is `nonReentrant` with OpenZeppelin's transient-storage
/// guard (EIP-1153). The contracts are compiled for Cancun anyway (the compiler emits MCOPY, EIP-5656),
/// so the transient guard adds no chain requirement and saves ~2,000 gas per call over a storage slot.
///
/// Time windows are half-open: a closing channel accepts claims while `block.timestamp < closeDeadline`
/// and can be finalized once `block.timestamp >= closeDeadline`; a previous signer signs validly while
/// `block.timestamp < previousSignerValidUntil`.
contract StreamChannels is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type hash of `Receipt(bytes32 channelId,uint256 cumulativeAmount,uint64 seq,bytes32 ackHash)`.
    bytes32 public constant RECEIPT_TYPEHASH =
        keccak256("Receipt(bytes32 channelId,uint256 cumulativeAmount,uint64 seq,bytes32 ackHash)");

    uint8 private constant STATUS_NONE = 0;
    uint8 private constant STATUS_OPEN = 1;
    uint8 private constant STATUS_CLOSING = 2;
    uint8 private constant STATUS_CLOSED = 3;

    /// @notice Public view of a channel. Field order is part of the ABI; fields are only ever appended.
    /// `signer` is never zero: a channel opened with signer 0 stores the payer as its signer.
    struct Channel {
        address payer;
        address payee;
        address token;
        address signer;
        uint256 deposit;
        uint256 claimed;
        uint64 closeDeadline;
        uint8 status;
        address previousSigner;
        uint64 previousSignerValidUntil;
    }

    /// @dev Storage layout, ordered so that a claim on a native channel signed by the current signer
    /// reads three slots (0, 1, 2) and writes one (2).
    struct ChannelState {
        // slot 0
        address payee;
        uint64 closeDeadline;
        uint8 status;
        bool isToken;
        // slot 1
        address signer;
        // slot 2
        uint128 deposit;
        uint128 claimed;
        // slot 3
        address payer;
        uint64 previousSignerValidUntil;
        // slot 4
        address previousSigner;
        // slot 5
        address token;
    }

    uint64 private immutable _challengePeriod;
    uint256 private _nonce;
    mapping(bytes32 channelId => ChannelState) private _channels;

    event ChannelOpened(
        bytes32 indexed channelId, address indexed payer, address indexed payee, address token, address signer, uint256 deposit
    );
    event ToppedUp(bytes32 indexed channelId, uint256 amount, uint256 deposit);
    event Claimed(bytes32 indexed channelId, address indexed payee, uint256 cumulativeAmount, uint256 paid, uint64 seq);
    event CloseRequested(bytes32 indexed channelId, uint64 closeDeadline);
    /// @notice `paidToPayee` is everything the payee received over the channel's life (its final
    /// `claimed`), `refundedToPayer` what went back to the payer now; they sum to the deposit.
    event ChannelClosed(bytes32 indexed channelId, uint256 paidToPayee, uint256 refundedToPayer);
    event SignerChanged(bytes32 indexed channelId, address signer);

    /// @notice No channel has this id.
    error UnknownChannel(bytes32 channelId);
    /// @notice Only the channel's payer may do this.
    error NotPayer(bytes32 channelId, address caller);
    /// @notice Only the channel's payee may do this.
    error NotPayee(bytes32 channelId, address caller);
    /// @notice The receipt was not signed by the signer, the payer or a still-valid previous signer.
    error InvalidSigner(bytes32 channelId, address recovered);
    /// @notice The receipt's cumulative amount does not exceed what was already claimed.
    error StaleReceipt(bytes32 channelId, uint256 cumulativeAmount, uint256 claimed);
    /// @notice The whole deposit was already claimed; top up first.
    error NothingToClaim(bytes32 channelId);
    /// @notice The channel is not in a state that allows this (e.g. closed, or closing for a top-up).
    error ChannelNotOpen(bytes32 channelId, uint8 status);
    /// @notice The challenge period of a closing channel has not ended yet.
    error ChallengePeriodNotOver(bytes32 channelId, uint64 closeDeadline);
    /// @notice The challenge period ended; the channel can only be finalized.
    error ChallengePeriodOver(bytes32 channelId, uint64 closeDeadline);
    /// @notice `msg.value` does not match: it must equal `amount` for native channels and be 0 for tokens.
    error WrongValue(uint256 expected, uint256 actual);
    /// @notice The payee is the zero address.
    error InvalidPayee();
    /// @notice A top-up of zero.
    error ZeroAmount();
    /// @notice The deposit would exceed 2^128 - 1 base units.
    error DepositTooLarge(uint256 deposit);
    /// @notice A previous signer is still inside its validity window; rotate again after it ends.
    error SignerRotationPending(bytes32 channelId, uint64 previousSignerValidUntil);
    /// @notice A native-coin transfer was refused by its recipient.
    error TransferFailed(address to, uint256 amount);
    /// @notice The challenge period is outside [MIN_CHALLENGE_PERIOD, MAX_CHALLENGE_PERIOD].
    error InvalidChallengePeriod(uint64 challengePeriod);

    /// @notice Shortest challenge period, s. With 0 a payer could request close and finalize in one
    /// block, and a signer rotation would void the payee's receipts at once.
    uint64 public constant MIN_CHALLENGE_PERIOD = 60;
    /// @notice Longest challenge period, s (one year), so deadlines can never overflow or lock deposits.
    uint64 public constant MAX_CHALLENGE_PERIOD = 365 days;

    /// @param challengePeriod_ seconds between requestClose and finalize; also how long a replaced
    /// signer's receipts stay valid (60 s to 365 days)
    constructor(uint64 challengePeriod_) EIP712("Trickle StreamChannels", "1") {
        if (challengePeriod_ < MIN_CHALLENGE_PERIOD || challengePeriod_ > MAX_CHALLENGE_PERIOD) {
            revert InvalidChallengePeriod(challengePeriod_);
        }
        _challengePeriod = challengePeriod_;
    }

    /// @notice Opens a channel from the caller (payer) to `payee`, escrowing `amount`.
    /// @param token address(0) for the native coin (msg.value must equal amount), else an ERC-20 pulled
    /// with transferFrom (msg.value must be 0; credited by balance delta)
    /// @param signer key that signs receipts; address(0) means the payer signs itself
    /// @return channelId keccak256(abi.encode(chainid, this, payer, nonce))
    function open(address payee, address token, uint256 amount, address signer)
        external
        payable
        nonReentrant
        returns (bytes32 channelId)
    {
        if (payee == address(0)) revert InvalidPayee();
        channelId = keccak256(abi.encode(block.chainid, address(this), msg.sender, _nonce++));
        uint256 received = _receive(token, amount);
        if (received > type(uint128).max) revert DepositTooLarge(received);
        address effectiveSigner = signer == address(0) ? msg.sender : signer;
        ChannelState storage c = _channels[channelId];
        c.payee = payee;
        c.status = STATUS_OPEN;
        c.signer = effectiveSigner;
        c.deposit = uint128(received);
        c.payer = msg.sender;
        if (token != address(0)) {
            c.isToken = true;
            c.token = token;
        }
        emit ChannelOpened(channelId, msg.sender, payee, token, effectiveSigner, received);
    }

    /// @notice Adds `amount` to an open channel's deposit. Anyone may top up; nothing else changes.
    function topUp(bytes32 channelId, uint256 amount) external payable nonReentrant {
        ChannelState storage c = _channels[channelId];
        uint8 status = c.status;
        if (status == STATUS_NONE) revert UnknownChannel(channelId);
        if (status != STATUS_OPEN) revert ChannelNotOpen(channelId, status);
        if (amount == 0) revert ZeroAmount();
        uint256 received = _receive(c.token, amount);
        uint256 deposit = uint256(c.deposit) + received;
        if (deposit > type(uint128).max) revert DepositTooLarge(deposit);
        c.deposit = uint128(deposit);
        emit ToppedUp(channelId, received, deposit);
    }

    /// @notice Pays the payee what a receipt owes beyond what was already claimed:
    /// `min(cumulativeAmount, deposit) - claimed`. Anyone may submit; money only goes to the stored payee.
    /// Allowed while the channel is open and during the challenge period of a requested close.
    /// @return paid amount transferred now, in the token's base units
    function claim(bytes32 channelId, uint256 cumulativeAmount, uint64 seq, bytes32 ackHash, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 paid)
    {
        ChannelState storage c = _channels[channelId];
        _requireClaimable(c, channelId);
        uint256 claimed = c.claimed;
        if (cumulativeAmount <= claimed) revert StaleReceipt(channelId, cumulativeAmount, claimed);
        _verifyReceipt(c, channelId, cumulativeAmount, seq, ackHash, signature);
        uint256 deposit = c.deposit;
        uint256 newClaimed = cumulativeAmount < deposit ? cumulativeAmount : deposit;
        if (newClaimed <= claimed) revert NothingToClaim(channelId);
        paid = newClaimed - claimed;
        c.claimed = uint128(newClaimed);
        address payee = c.payee;
        emit Claimed(channelId, payee, cumulativeAmount, paid, seq);
        _pay(c, payee, paid);
    }

    /// @notice Cooperative close by the payee: pays what the receipt owes (nothing if it is not newer than
    /// what was claimed), refunds the rest of the deposit to the payer at once, and closes the channel.
    function closeWithReceipt(
        bytes32 channelId,
        uint256 cumulativeAmount,
        uint64 seq,
        bytes32 ackHash,
        bytes calldata signature
    ) external nonReentrant {
        ChannelState storage c = _channels[channelId];
        _requireClaimable(c, channelId);
        if (msg.sender != c.payee) revert NotPayee(channelId, msg.sender);
        _verifyReceipt(c, channelId, cumulativeAmount, seq, ackHash, signature);
        _closeCooperatively(c, channelId, cumulativeAmount, seq);
    }

    /// @notice Starts the challenge period: the channel can be finalized `challengePeriod` seconds from now.
    /// Payer only. The payee keeps claiming until then.
    function requestClose(bytes32 channelId) external {
        ChannelState storage c = _channels[channelId];
        uint8 status = c.status;
        if (status == STATUS_NONE) revert UnknownChannel(channelId);
        if (msg.sender != c.payer) revert NotPayer(channelId, msg.sender);
        if (status != STATUS_OPEN) revert ChannelNotOpen(channelId, status);
        uint64 deadline = uint64(block.timestamp) + _challengePeriod;
        c.closeDeadline = deadline;
        c.status = STATUS_CLOSING;
        emit CloseRequested(channelId, deadline);
    }

    /// @notice After the challenge period, refunds `deposit - claimed` to the payer and closes. Anyone may call.
    function finalize(bytes32 channelId) external nonReentrant {
        ChannelState storage c = _channels[channelId];
        uint8 status = c.status;
        if (status == STATUS_NONE) revert UnknownChannel(channelId);
        if (status != STATUS_CLOSING) revert ChannelNotOpen(channelId, status);
        uint64 deadline = c.closeDeadline;
        if (block.timestamp < deadline) revert ChallengePeriodNotOver(channelId, deadline);
        uint256 claimed = c.claimed;
        uint256 refund = c.deposit - claimed;
        c.status = STATUS_CLOSED;
        emit ChannelClosed(channelId, claimed, refund);
        if (refund > 0) _pay(c, c.payer, refund);
    }

    /// @notice Names a new receipt signer (address(0): the payer). Valid at once; the replaced signer stays
    /// valid for `challengePeriod` seconds so receipts the payee already holds keep their value. Payer only.
    /// At most one rotation per challenge period: otherwise a payer could rotate twice to void receipts.
    function setSigner(bytes32 channelId, address signer) external {
        ChannelState storage c = _channels[channelId];
        uint8 status = c.status;
        if (status == STATUS_NONE) revert UnknownChannel(channelId);
        if (msg.sender != c.payer) revert NotPayer(channelId, msg.sender);
        if (status == STATUS_CLOSED) revert ChannelNotOpen(channelId, status);
        uint64 validUntil = c.previousSignerValidUntil;
        if (block.timestamp < validUntil) revert SignerRotationPending(channelId, validUntil);
        address effectiveSigner = signer == address(0) ? msg.sender : signer;
        c.previousSigner = c.signer;
        c.previousSignerValidUntil = uint64(block.timestamp) + _challengePeriod;
        c.signer = effectiveSigner;
        emit SignerChanged(channelId, effectiveSigner);
    }

    /// @notice Reads a channel; an unknown id returns an all-zero struct (status 0).
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        ChannelState storage c = _channels[channelId];
        return Channel({
            payer: c.payer,
            payee: c.payee,
            token: c.token,
            signer: c.signer,
            deposit: c.deposit,
            claimed: c.claimed,
            closeDeadline: c.closeDeadline,
            status: c.status,
            previousSigner: c.previousSigner,
            previousSignerValidUntil: c.previousSignerValidUntil
        });
    }

    /// @notice The EIP-712 digest a receipt signature covers.
    function receiptDigest(bytes32 channelId, uint256 cumulativeAmount, uint64 seq, bytes32 ackHash)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(RECEIPT_TYPEHASH, channelId, cumulativeAmount, seq, ackHash)));
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice Seconds between requestClose and finalize.
    function challengePeriod() external view returns (uint64) {
        return _challengePeriod;
    }

    function _requireClaimable(ChannelState storage c, bytes32 channelId) private view {
        uint8 status = c.status;
        if (status == STATUS_OPEN) return;
        if (status == STATUS_NONE) revert UnknownChannel(channelId);
        if (status != STATUS_CLOSING) revert ChannelNotOpen(channelId, status);
        uint64 deadline = c.closeDeadline;
        if (block.timestamp >= deadline) revert ChallengePeriodOver(channelId, deadline);
    }

    function _verifyReceipt(
        ChannelState storage c,
        bytes32 channelId,
        uint256 cumulativeAmount,
        uint64 seq,
        bytes32 ackHash,
        bytes calldata signature
    ) private view {
        bytes32 digest = receiptDigest(channelId, cumulativeAmount, seq, ackHash);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSigner(channelId, address(0));
        if (recovered == c.signer) return;
        if (recovered == c.payer) return;
        if (recovered == c.previousSigner && block.timestamp < c.previousSignerValidUntil) return;
        revert InvalidSigner(channelId, recovered);
    }

    function _closeCooperatively(ChannelState storage c, bytes32 channelId, uint256 cumulativeAmount, uint64 seq)
        private
    {
        uint256 deposit = c.deposit;
        uint256 claimed = c.claimed;
        uint256 owed = cumulativeAmount < deposit ? cumulativeAmount : deposit;
        uint256 paid = owed > claimed ? owed - claimed : 0;
        claimed += paid;
        c.claimed = uint128(claimed);
        c.status = STATUS_CLOSED;
        address payee = c.payee;
        if (paid > 0) emit Claimed(channelId, payee, cumulativeAmount, paid, seq);
        emit ChannelClosed(channelId, claimed, deposit - claimed);
        if (paid > 0) _pay(c, payee, paid);
        if (deposit > claimed) _pay(c, c.payer, deposit - claimed);
    }

    function _receive(address token, uint256 amount) private returns (uint256 received) {
        if (token == address(0)) {
            if (msg.value != amount) revert WrongValue(amount, msg.value);
            return amount;
        }
        if (msg.value != 0) revert WrongValue(0, msg.value);
        IERC20 erc20 = IERC20(token);
        uint256 before = erc20.balanceOf(address(this));
        erc20.safeTransferFrom(msg.sender, address(this), amount);
        received = erc20.balanceOf(address(this)) - before;
    }

    function _pay(ChannelState storage c, address to, uint256 amount) private {
        if (c.isToken) {
            IERC20(c.token).safeTransfer(to, amount);
        } else {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert TransferFailed(to, amount);
        }
    }
}
