/**
 * The config `trickle-seller init` writes: every field, commented, for a seller with an office's
 * sensors on its own mosquitto broker and a local anvil chain. It validates as it is (the test suite
 * parses it); the addresses are those of a first deployment on a fresh anvil (`npm start` or
 * `npm run deploy -w @trickle/devnet` with anvil's account 0).
 */
export const EXAMPLE_CONFIG = `# trickle-seller config: sells MQTT readings as paid streams.
# Full reference: seller-server/README.md. Check it with \`trickle-seller check\`.
# Paths are relative to this file. Amounts: "0.000001 ETH", "1000 gwei" or whole wei.

chain:
  # a preset fills rpcUrl, chainId and fees: anvil (local), iota-evm, iota-evm-testnet
  preset: anvil
  # rpcUrl: http://127.0.0.1:8545   # your own node overrides the preset's
  # chainId: 31337                  # must be the RPC's chain
  # fees: eip1559                   # or legacy (IOTA EVM)
  registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3"   # DataRegistry
  channels: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"   # StreamChannels
  deployBlock: 0                    # block DataRegistry was deployed in

# The payee key registers the products, is paid by the channels and sends the claims (it needs a
# little coin for gas). Never write a key here: an encrypted keystore, its password in a variable,
payee:
  keystore: payee.keystore.json
  passwordEnv: TRICKLE_KEYSTORE_PASSWORD
# or a file holding the 0x key that only you can read (chmod 600 payee.key):
#   keyFile: payee.key

# termsKey:                         # signs session terms; default: the payee key
#   keyFile: terms.key

dataDir: seller-data                # receipts (SQLite), products, IPFS blocks: back it up

listen:
  host: 127.0.0.1                   # 0.0.0.0 to accept buyers from other machines
  port: 4312
# publicUrl: wss://sensors.example.com   # what buyers connect to, behind a TLS proxy
# metrics: false                    # GET /metrics answers 404 (default true: Prometheus metrics)

broker:
  url: mqtt://127.0.0.1:1883        # mqtts://host:8883 for TLS
  # clientId: trickle-office1        # the persistent session's id (default: derived, unique per seller)
  # username: trickle
  # passwordEnv: TRICKLE_MQTT_PASSWORD   # or password: … (prefer the variable)
  # tls:
  #   ca: ca.crt                    # the broker's CA (PEM)
  #   cert: client.crt              # client certificate and key, if the broker asks for them
  #   key: client.key
  #   servername: broker.example.com
  #   rejectUnauthorized: true

# recording:                        # readings kept on disk per product, replayed to resuming buyers
#   maxReadings: 100000
#   maxBytes: 67108864

# settlement:                       # when receipts become on-chain claims
#   claimThreshold: "0.01 ETH"      # claim a channel once this much is unclaimed
#   claimOnSessionEnd: true         # and when a session ends, if the claim pays its gas
#   maxUnclaimedAgeSeconds: 3600    # and when receipts wait this long

products:
  - key: office1-air                # stable id: keep it, or a new product is registered
    name: Office 1 air quality
    description: CO₂, temperature and humidity of every room in office 1, one JSON reading per chunk.
    kind: stream
    topics:
      - office1/sensors/#           # + is one level, # the rest: office1/+/co2
    fields:
      - { name: co2, unit: ppm }
      - { name: temperature, unit: °C }
      - { name: humidity, unit: "%" }
    pricePerChunk: "0.000001 ETH"
    chunksPerSecond: 2              # all topics together: buyers price an hour with it
    tags: [co2, temperature, humidity, office]
    location: { lat: 52.52, lon: 13.405 }   # shown to buyers (WGS 84 degrees)
    source:
      title: Office 1 sensors
      licence: CC BY 4.0
      attribution: Example GmbH
    encoding: application/json      # MIME type of the MQTT payloads, sent unchanged
    maxChunkBytes: 4096             # larger messages are skipped
    # window: { initial: 16, step: 16, max: 256 }   # credit window, chunks
    # receiptEvery: 8               # chunks per receipt, at most window.initial

  - key: office1-door-camera
    name: Office 1 door camera stills
    description: A JPEG still of the office door every 10 seconds.
    topics: [office1/door/jpeg]
    pricePerChunk: "0.00001 ETH"
    chunksPerSecond: 0.1
    tags: [camera, office]
    encoding: image/jpeg            # raw bytes: any MIME type
    chunkUnit: one JPEG image
    maxChunkBytes: 200000

  # The recording of office1-air, sold as history: buyers pick a time range or the latest N
  # readings and get exactly those (trickle buy --from/--to or --last). Buyers of a stream product
  # may buy ranges of it too, at the stream's price; a dataset lists them apart, at its own.
  - key: office1-air-history
    name: Office 1 air quality, history
    description: Every recorded reading of office 1's air sensors, by time range.
    kind: dataset
    recordingOf: office1-air        # a stream product of this file
    fields:
      - { name: co2, unit: ppm }
      - { name: temperature, unit: °C }
      - { name: humidity, unit: "%" }
    pricePerChunk: "0.0000005 ETH"
    tags: [co2, history, office]
`
