/**
 * An MQTT source in its own process that dies (SIGKILL) right after it recorded its `dieAfter`-th
 * message and before mqtt.js sends that message's PUBACK: the crash the duplicates rule is for.
 * argv[2] is JSON `{ url, db, clientId, topic, dieAfter }`; prints `ready` once subscribed.
 */

import { connectMqttSource } from '../../src/mqttSource.ts'
import { openReadingStore, type ReadingStore } from '../../src/readingStore.ts'

const { url, db, clientId, topic, dieAfter } = JSON.parse(process.argv[2]!) as {
  url: string
  db: string
  clientId: string
  topic: string
  dieAfter: number
}
const store = openReadingStore(db)
let recorded = 0
const dying: ReadingStore = {
  ...store,
  record(products, message, now) {
    const positions = store.record(products, message, now)
    if (++recorded === dieAfter) {
      process.kill(process.pid, 'SIGKILL')
      // SIGKILL is on its way: hold the thread so that no PUBACK can be sent meanwhile.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000)
    }
    return positions
  },
}
await connectMqttSource(url, new Map([['p', [topic]]]), { readings: dying, clientId })
process.stdout.write('ready\n')
