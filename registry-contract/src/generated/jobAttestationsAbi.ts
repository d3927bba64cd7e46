// Generated from the solc output of registry-contract/contracts/JobAttestations.sol by
// registry-contract/devnet/src/generateBindings.ts — do not edit; run
// `npm run generate -w @trickle/devnet` after changing the contract.
// biome-ignore-all format: generated JSON, kept byte for byte as the generator writes it
import type { Abi } from 'abitype'

/**
 * JSON ABI of JobAttestations, as emitted by solc, with literal types (`as const`) from which the
 * typed wrappers derive their method types. Note that raw ethers decodes every `uint8` as `bigint`;
 * {@link attestationsAt} adds `findAttestation`, which finds the `Attested` event of a hash.
 */
export const JOB_ATTESTATIONS_ABI = [
  {
    "inputs": [
      {
        "internalType": "contract StreamChannels",
        "name": "channels_",
        "type": "address"
      }
    ],
    "stateMutability": "nonpayable",
    "type": "constructor"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "channelId",
        "type": "bytes32"
      },
      {
        "internalType": "address",
        "name": "caller",
        "type": "address"
      }
    ],
    "name": "NotPayee",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "channelId",
        "type": "bytes32"
      }
    ],
    "name": "UnknownChannel",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "channelId",
        "type": "bytes32"
      }
    ],
    "name": "ZeroCumulativeAmount",
    "type": "error"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "bytes32",
        "name": "channelId",
        "type": "bytes32"
      },
      {
        "indexed": true,
        "internalType": "bytes32",
        "name": "attestationHash",
        "type": "bytes32"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "payee",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "cumulativeAmount",
        "type": "uint256"
      }
    ],
    "name": "Attested",
    "type": "event"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "channelId",
        "type": "bytes32"
      },
      {
        "internalType": "bytes32",
        "name": "attestationHash",
        "type": "bytes32"
      },
      {
        "internalType": "uint256",
        "name": "cumulativeAmount",
        "type": "uint256"
      }
    ],
    "name": "attest",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "channels",
    "outputs": [
      {
        "internalType": "contract StreamChannels",
        "name": "",
        "type": "address"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "channelId",
        "type": "bytes32"
      },
      {
        "internalType": "bytes32",
        "name": "attestationHash",
        "type": "bytes32"
      },
      {
        "internalType": "uint256",
        "name": "cumulativeAmount",
        "type": "uint256"
      },
      {
        "internalType": "uint64",
        "name": "seq",
        "type": "uint64"
      },
      {
        "internalType": "bytes32",
        "name": "ackHash",
        "type": "bytes32"
      },
      {
        "internalType": "bytes",
        "name": "signature",
        "type": "bytes"
      }
    ],
    "name": "claimAndAttest",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "paid",
        "type": "uint256"
      }
    ],
    "stateMutability": "nonpayable",
    "type": "function"
  }
] as const satisfies Abi
