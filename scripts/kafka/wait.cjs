// Readiness check for scripts/kafka/start.sh (CommonJS: the repo's package.json is "type": "module").
// Exit 0 once the broker answers Kafka requests and its group coordinator works; exit 1 on timeout
// (KAFKA_WAIT_MS, default 60000) or as soon as the broker process (optional pid argument) has exited.
//   node scripts/kafka/wait.cjs [host:port] [pid]
const { Kafka, logLevel } = require("kafkajs")

// kafkajs 2.2.4 passes a negative delay to setTimeout (requestQueue/index.js, tulios/kafkajs#1751);
// Node 24 warns "TimeoutNegativeWarning: -17... is a negative number" on every connect. Harmless
// (Node uses 1 ms), so hide only that warning and keep printing the others.
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  if (warning.name !== "TimeoutNegativeWarning") console.error(warning)
})

const broker = process.argv[2] || "127.0.0.1:9092"
const pid = process.argv[3] ? Number(process.argv[3]) : undefined
const timeoutMs = Number(process.env.KAFKA_WAIT_MS || 60000)
const kafka = new Kafka({
  clientId: "kafka-wait",
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 5000,
  retry: { retries: 0 }
})

const alive = (p) => {
  try {
    process.kill(p, 0)
    return true
  } catch (err) {
    return err.code === "EPERM"
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const started = Date.now()

const main = async () => {
  for (;;) {
    const admin = kafka.admin()
    try {
      await admin.connect()
      const { brokers } = await admin.describeCluster() // Metadata request
      await admin.describeGroups(["kafka-wait-warmup"]) // FindCoordinator -> creates __consumer_offsets
      await admin.disconnect()
      console.log(`kafka ready at ${broker} (${brokers.length} broker) after ${Date.now() - started} ms`)
      return 0
    } catch (err) {
      await admin.disconnect().catch(() => {})
      if (pid !== undefined && !alive(pid)) {
        console.error(`kafka broker process ${pid} exited before it was ready (last error: ${err.message})`)
        return 1
      }
      if (Date.now() - started > timeoutMs) {
        console.error(`kafka not ready at ${broker} after ${timeoutMs} ms: ${err.message}`)
        return 1
      }
      await sleep(250)
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err)
    process.exit(1)
  }
)
