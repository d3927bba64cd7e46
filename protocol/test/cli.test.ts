import { startLocalMarketplace } from '@trickle/seller'
export const x = startLocalMarketplace
