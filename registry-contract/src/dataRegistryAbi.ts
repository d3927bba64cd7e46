/**
 * Human-readable ABI of DataRegistry (ethers v6 format), available without compiling. A test checks it
 * against the compiled ABI. Note that raw ethers decodes every `uint8` (e.g. `kind`) as `bigint`;
 * {@link registryAt} converts `getProduct`'s kind to a number.
 */
export const DATA_REGISTRY_ABI = [
  'function register(bytes descriptorCid, uint8 kind) returns (uint256 productId)',
  'function update(uint256 productId, bytes descriptorCid)',
  'function deactivate(uint256 productId)',
  'function setSellerKey(address key)',
  'function sellerKey(address seller) view returns (address)',
  'function getProduct(uint256 productId) view returns (address owner, uint8 kind, bool active, bytes descriptorCid)',
  'function productCount() view returns (uint256)',
  'function MAX_CID_LENGTH() view returns (uint256)',
  'event ProductRegistered(uint256 indexed productId, address indexed owner, uint8 kind, bytes descriptorCid)',
  'event ProductUpdated(uint256 indexed productId, bytes descriptorCid)',
  'event ProductDeactivated(uint256 indexed productId)',
  'event SellerKeySet(address indexed seller, address key)',
  'error InvalidKind(uint8 kind)',
  'error EmptyCid()',
  'error CidTooLong(uint256 length, uint256 maxLength)',
  'error UnknownProduct(uint256 productId)',
  'error NotOwner(uint256 productId, address caller)',
  'error ProductInactive(uint256 productId)',
] as const
