// The mosquitto fixture lives in the dev-only package, shared with the benchmarks.
export {
  freePort,
  MOSQUITTO_BIN,
  type Mosquitto,
  type MosquittoOptions,
  startMosquitto,
} from '@trickle/devnet'
