/**
 * `npm run redrive -- <dead-letter-topic> [max-messages]`: move the messages parked in a Kafka
 * dead-letter topic (e.g. `order-events.dlq`) back to the topics they came from, in order,
 * committing each dead-letter offset after its re-send. Brokers from KAFKA_BROKERS.
 */
import { DeadLetters, KafkaClient, KafkaProducer } from "@eventline/kafka"
import { Cause, Config, Effect, Exit, Layer, References } from "effect"

const [topic, max] = process.argv.slice(2)
if (topic === undefined || !topic.endsWith(".dlq")) {
  process.stderr.write("usage: npm run redrive -- <topic>.dlq [max-messages]\n")
  process.exit(2)
}

const program = Effect.gen(function* () {
  const brokers = yield* Config.String("KAFKA_BROKERS").pipe(
    Config.map((value) => value.split(",").map((b) => b.trim()))
  )
  const kafka = KafkaProducer.layer().pipe(
    Layer.provideMerge(KafkaClient.layer({ brokers, clientId: "eventline-redrive" }))
  )
  return yield* Effect.gen(function* () {
    const topics = yield* Effect.scoped(
      Effect.flatMap(KafkaClient.admin, (admin) => KafkaClient.call("admin.listTopics", () => admin.listTopics()))
    )
    if (!topics.includes(topic)) return yield* Effect.fail(`topic '${topic}' does not exist on ${brokers.join(", ")}`)
    return yield* DeadLetters.redrive(topic, max === undefined ? {} : { maxMessages: Number(max) })
  }).pipe(Effect.provide(kafka))
}).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))

const exit = await Effect.runPromiseExit(program)
if (Exit.isSuccess(exit)) {
  process.stdout.write(
    `${topic}: ${exit.value.redriven} message(s) sent back, ${exit.value.skipped} without an origin left in place\n`
  )
} else {
  process.stderr.write(`redrive failed: ${Cause.pretty(exit.cause)}\n`)
  process.exitCode = 1
}
