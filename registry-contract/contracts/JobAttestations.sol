// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {StreamChannels} from "./StreamChannels.sol";

/// @title JobAttestations — on-chain anchors of compute/app job attestations, tied to a paying channel
/// @notice At the end of a job the provider (the channel's payee) signs an attestation — job id, module
/// hash, parameter and input hashes, output hash chain, exit code, CPU ms, … — and anchors its hash here
/// with the channel that paid for the job and the cumulative receipt amount the job's charges end at.
/// A verifier (`trickle job verify`) then checks three things against the chain: an `Attested` event
/// with the attestation's hash exists in this contract, its `payee` is the channel's payee, and the
/// channel's `claimed` in StreamChannels (or a `Claimed` event's `cumulativeAmount`) reaches
/// `cumulativeAmount` — the claim that paid for the job. {claimAndAttest} makes the claim and the anchor
/// one transaction, so the receipt of that transaction holds both `Claimed` and `Attested`.
/// @dev Events only, no storage. Measured on anvil (registry-contract/README.md): `attest` costs ~43,000
/// gas event-only and ~65,200 with a stored anchor (attestation hash → payee and block, one slot: a
/// zero-to-nonzero SSTORE), 1.5 times as much for a record nothing on-chain reads: the verifier is
/// off-chain and finds the log with `eth_getLogs` filtered by the indexed attestation hash
/// (`attestationsAt().findAttestation`). The price of that choice: the same hash can be anchored more
/// than once (a verifier asks for the anchor of the channel its attestation names), and contracts
/// cannot query anchors. Reading the payee through `StreamChannels.getChannel` takes ~12,700 gas of
/// `attest` (six cold slots and the call); a payee-only view in StreamChannels would bring `attest` to
/// ~30,300, left for a future StreamChannels deployment so that this contract works with the deployed one.
/// {claimAndAttest} costs ~64,700 against ~91,500 for a later claim and an `attest` sent apart.
///
/// Only the payee may attest for a channel, so nobody else can tie an attestation to someone's
/// channel; the attestation itself should name the channel id and chain so that a payee cannot reuse one
/// attestation for two channels unnoticed. Attesting is allowed in any state of a known channel
/// (open, closing, closed): a provider may close with a receipt first and attest after.
contract JobAttestations {
    /// @notice The StreamChannels contract whose channels pay for the attested jobs.
    StreamChannels public immutable channels;

    /// @notice An attestation's hash was anchored by `payee` for `channelId`; the job's charges end at or
    /// below the channel's cumulative receipt amount `cumulativeAmount` (base units of the channel's token).
    event Attested(
        bytes32 indexed channelId, bytes32 indexed attestationHash, address indexed payee, uint256 cumulativeAmount
    );

    /// @notice No channel has this id in {channels}.
    error UnknownChannel(bytes32 channelId);
    /// @notice Only the channel's payee may attest for it.
    error NotPayee(bytes32 channelId, address caller);
    /// @notice A job is paid by a cumulative amount above zero.
    error ZeroCumulativeAmount(bytes32 channelId);

    /// @param channels_ the StreamChannels deployment whose payees attest
    constructor(StreamChannels channels_) {
        channels = channels_;
    }

    /// @notice Anchors `attestationHash` for `channelId`. Payee only.
    /// @param channelId the StreamChannels channel that paid for the job
    /// @param attestationHash hash of the provider's signed attestation (its hashing is the protocol's,
    /// SPEC.md; the contract treats it as opaque)
    /// @param cumulativeAmount the channel's cumulative receipt amount that pays for the job, base units
    function attest(bytes32 channelId, bytes32 attestationHash, uint256 cumulativeAmount) external {
        if (cumulativeAmount == 0) revert ZeroCumulativeAmount(channelId);
        _requirePayee(channelId);
        emit Attested(channelId, attestationHash, msg.sender, cumulativeAmount);
    }

    /// @notice Claims a receipt on {channels} and anchors `attestationHash` with the receipt's cumulative
    /// amount, in one transaction. Payee only. StreamChannels.claim may be called by anyone and always
    /// pays the channel's stored payee, so routing the claim through this contract changes nothing about
    /// who is paid; it reverts as `claim` does (`StaleReceipt`, `InvalidSigner`, `NothingToClaim`, …).
    /// @param channelId the channel that paid for the job
    /// @param attestationHash hash of the provider's signed attestation
    /// @param cumulativeAmount the receipt's cumulative amount, base units; also the anchor's
    /// @param seq the receipt's sequence number
    /// @param ackHash the receipt's acknowledgement hash
    /// @param signature the receipt's EIP-712 signature (65 bytes)
    /// @return paid what the claim paid the payee now, base units
    function claimAndAttest(
        bytes32 channelId,
        bytes32 attestationHash,
        uint256 cumulativeAmount,
        uint64 seq,
        bytes32 ackHash,
        bytes calldata signature
    ) external returns (uint256 paid) {
        if (cumulativeAmount == 0) revert ZeroCumulativeAmount(channelId);
        _requirePayee(channelId);
        // The channel slots read by the payee check are warm for the claim (EIP-2929), so checking first
        // costs what checking after would, and a caller that is not the payee fails before the claim.
        paid = channels.claim(channelId, cumulativeAmount, seq, ackHash, signature);
        emit Attested(channelId, attestationHash, msg.sender, cumulativeAmount);
    }

    function _requirePayee(bytes32 channelId) private view {
        StreamChannels.Channel memory c = channels.getChannel(channelId);
        if (c.status == 0) revert UnknownChannel(channelId);
        if (c.payee != msg.sender) revert NotPayee(channelId, msg.sender);
    }
}
