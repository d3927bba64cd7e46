// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title DataRegistry — Trickle's on-chain product index
/// @notice Sellers register data products (stream, dataset, compute, app) by the binary CID of their
/// dag-json descriptor, update or deactivate them, and publish the key that signs their session terms.
/// A catalog indexes the events from block 0 or incrementally.
/// @dev Storage: a product takes two slots when its CID is 32..41 bytes long (every CIDv1 with a
/// 32-byte digest, e.g. dag-json sha2-256 = 37 bytes: version 0x01, codec 0x0129 as the 2-byte varint
/// 0xa9 0x02, multihash code 0x12, length 0x20, digest): slot one packs owner, kind, active and the CID
/// prefix (version, codec, multihash code and length, at most 9 bytes); slot two holds the last 32 bytes
/// (the digest). Any other CID length up to {MAX_CID_LENGTH} falls back to plain `bytes` storage.
contract DataRegistry {
    /// @notice Longest descriptor CID accepted, in bytes.
    uint256 public constant MAX_CID_LENGTH = 256;

    /// @dev Highest valid product kind (0 stream, 1 dataset, 2 compute, 3 app).
    uint8 private constant MAX_KIND = 3;
    /// @dev `cidPrefixLength` marker: the CID lives in `_longCids`.
    uint8 private constant CID_IN_BYTES = type(uint8).max;
    /// @dev Bytes that fit in the packed prefix field.
    uint256 private constant MAX_PREFIX_LENGTH = 9;

    struct Product {
        // slot 0 (32 bytes)
        address owner;
        uint8 kind;
        bool active;
        uint8 cidPrefixLength;
        bytes9 cidPrefix;
        // slot 1
        bytes32 cidDigest;
    }

    uint256 private _productCount;
    mapping(uint256 productId => Product) private _products;
    mapping(uint256 productId => bytes) private _longCids;
    mapping(address seller => address) private _sellerKeys;

    event ProductRegistered(uint256 indexed productId, address indexed owner, uint8 kind, bytes descriptorCid);
    event ProductUpdated(uint256 indexed productId, bytes descriptorCid);
    event ProductDeactivated(uint256 indexed productId);
    event SellerKeySet(address indexed seller, address key);

    /// @notice The kind is not 0..3.
    error InvalidKind(uint8 kind);
    /// @notice The descriptor CID is empty.
    error EmptyCid();
    /// @notice The descriptor CID is longer than {MAX_CID_LENGTH}.
    error CidTooLong(uint256 length, uint256 maxLength);
    /// @notice No product has this id.
    error UnknownProduct(uint256 productId);
    /// @notice Only the product's owner may do this.
    error NotOwner(uint256 productId, address caller);
    /// @notice The product is already deactivated.
    error ProductInactive(uint256 productId);

    /// @notice Registers a product owned by the caller.
    /// @param descriptorCid binary CID of the product descriptor (1..MAX_CID_LENGTH bytes)
    /// @param kind 0 stream, 1 dataset, 2 compute, 3 app
    /// @return productId the new product's id; ids start at 1
    function register(bytes calldata descriptorCid, uint8 kind) external returns (uint256 productId) {
        if (kind > MAX_KIND) revert InvalidKind(kind);
        productId = ++_productCount;
        Product storage p = _products[productId];
        p.owner = msg.sender;
        p.kind = kind;
        p.active = true;
        _storeCid(productId, p, descriptorCid);
        emit ProductRegistered(productId, msg.sender, kind, descriptorCid);
    }

    /// @notice Replaces a product's descriptor CID. Owner only; allowed on inactive products too.
    function update(uint256 productId, bytes calldata descriptorCid) external {
        Product storage p = _ownedProduct(productId);
        _storeCid(productId, p, descriptorCid);
        emit ProductUpdated(productId, descriptorCid);
    }

    /// @notice Marks a product inactive (it stays readable). Owner only; there is no reactivation.
    function deactivate(uint256 productId) external {
        Product storage p = _ownedProduct(productId);
        if (!p.active) revert ProductInactive(productId);
        p.active = false;
        emit ProductDeactivated(productId);
    }

    /// @notice Sets the key that signs the caller's session terms; `address(0)` clears it.
    function setSellerKey(address key) external {
        _sellerKeys[msg.sender] = key;
        emit SellerKeySet(msg.sender, key);
    }

    /// @notice The terms-signing key of `seller`, or `address(0)` if none was set.
    function sellerKey(address seller) external view returns (address) {
        return _sellerKeys[seller];
    }

    /// @notice Reads a product; reverts UnknownProduct for ids never registered.
    /// @return owner the seller that registered it
    /// @return kind 0 stream, 1 dataset, 2 compute, 3 app
    /// @return active false once deactivated
    /// @return descriptorCid the binary CID exactly as last registered or updated
    function getProduct(uint256 productId)
        external
        view
        returns (address owner, uint8 kind, bool active, bytes memory descriptorCid)
    {
        Product storage p = _products[productId];
        owner = p.owner;
        if (owner == address(0)) revert UnknownProduct(productId);
        kind = p.kind;
        active = p.active;
        uint8 prefixLength = p.cidPrefixLength;
        if (prefixLength == CID_IN_BYTES) {
            descriptorCid = _longCids[productId];
        } else {
            bytes9 prefix = p.cidPrefix;
            bytes32 digest = p.cidDigest;
            descriptorCid = new bytes(uint256(prefixLength) + 32);
            assembly ("memory-safe") {
                let data := add(descriptorCid, 32)
                mstore(data, prefix)
                mstore(add(data, prefixLength), digest)
            }
        }
    }

    /// @notice Number of products ever registered (the highest id).
    function productCount() external view returns (uint256) {
        return _productCount;
    }

    function _ownedProduct(uint256 productId) private view returns (Product storage p) {
        p = _products[productId];
        address owner = p.owner;
        if (owner == address(0)) revert UnknownProduct(productId);
        if (owner != msg.sender) revert NotOwner(productId, msg.sender);
    }

    function _storeCid(uint256 productId, Product storage p, bytes calldata cid) private {
        uint256 length = cid.length;
        if (length == 0) revert EmptyCid();
        if (length > MAX_CID_LENGTH) revert CidTooLong(length, MAX_CID_LENGTH);
        bool wasLong = p.cidPrefixLength == CID_IN_BYTES;
        if (length >= 32 && length <= 32 + MAX_PREFIX_LENGTH) {
            uint256 prefixLength = length - 32;
            p.cidPrefixLength = uint8(prefixLength);
            p.cidPrefix = bytes9(cid[:prefixLength]);
            p.cidDigest = bytes32(cid[prefixLength:]);
            if (wasLong) delete _longCids[productId];
        } else {
            p.cidPrefixLength = CID_IN_BYTES;
            p.cidPrefix = bytes9(0);
            p.cidDigest = bytes32(0);
            _longCids[productId] = cid;
        }
    }
}
