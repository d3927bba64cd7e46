// Buys readings of product 2 for at most 0.00002 ETH from the marketplace `npm start` runs, and prints them.
import { readFileSync } from 'node:fs'
import { createTrickle } from '@trickle/sdk'
import { Wallet } from 'ethers'

const market = JSON.parse(readFileSync(process.env.TRICKLE_CONFIG ?? '.trickle/local.json', 'utf8'))
const trickle = await createTrickle({ ...market, signer: new Wallet(market.buyerKey) })
for await (const reading of trickle.subscribe(2n, { budget: '0.00002 ETH' })) {
  console.log(new TextDecoder().decode(reading.data))
}
await trickle.close()
