/**
 * How often the consumer loop commits: once per fetched batch (and at least every
 * `commitInterval` within one), not once per message, and always up to the last message
 * processed, so a graceful stop redelivers nothing and a crash only what followed the last commit.
 */
import { assert, describe, it } from "@effect/vitest"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Deferred, Effect, Exit } from "effect"
import { EnvelopeCodec, KafkaClient, KafkaProducer } from "../src/index.ts"
import { loopOptions, start } from "../src/internal/consumerLoop.ts"
import { brokers, envelope, fastGroup, howToProvideKafka, KafkaTest, scopedTopic, unique } from "./utils.ts"

const messages = 400

/** Consume `messages` messages of one partition; how many commits did it take, and up to where? */
const consumeAll = (commitInterval: number | undefined) =>
  Effect.gen(function* () {
    const topic = yield* scopedTopic("commits", 1)
    const producer = yield* KafkaProducer.KafkaProducer
    const events = Array.from({ length: messages }, (_, i) => envelope("commits", i + 1))
    yield* producer.send(topic, yield* EnvelopeCodec.encodeAll(events))
    const { kafka } = yield* KafkaClient.KafkaClient
    const groupId = unique("commits")
    let commits = 0
    let committedTo = 0n
    const done = yield* Deferred.make<void>()
    yield* Effect.scoped(
      Effect.gen(function* () {
        yield* start(kafka, loopOptions([topic], groupId, { ...fastGroup, commitInterval }), () => Effect.void, {
          onCommitted: (_topic, _partition, next) => {
            commits += 1
            committedTo = next
            if (next >= BigInt(messages)) Deferred.doneUnsafe(done, Exit.void)
          }
        })
        yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))
      })
    )
    // what the broker holds for the group, read back after the consumer left
    const admin = yield* KafkaClient.admin
    const [offsets] = yield* KafkaClient.call("admin.fetchOffsets", () =>
      admin.fetchOffsets({ groupId, topics: [topic] })
    )
    return { commits, committedTo, brokerOffset: offsets?.partitions[0]?.offset }
  })

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("consumer loop commits", () => {
  it.live(
    "commits per batch, not per message, and up to the last message processed",
    () =>
      Effect.gen(function* () {
        const batched = yield* consumeAll(undefined)
        assert.strictEqual(batched.committedTo, BigInt(messages))
        assert.strictEqual(batched.brokerOffset, String(messages))
        // one commit per message before (400); a few batches and interval commits now
        assert.isBelow(batched.commits, messages / 4, `${batched.commits} commits for ${messages} messages`)

        const perMessage = yield* consumeAll(0)
        assert.strictEqual(perMessage.commits, messages)
        assert.strictEqual(perMessage.brokerOffset, String(messages))
      }).pipe(Effect.provide(KafkaTest)),
    60_000
  )
})
