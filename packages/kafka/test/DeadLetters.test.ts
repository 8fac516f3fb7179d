/**
 * The Kafka redrive: headerless messages are skipped, `maxMessages` stops early, a second
 * redrive continues where the first stopped, and redriven messages keep their key, value and
 * own headers. (The dead-letter headers themselves are core's, tested in DeadLetterTopic.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { DeadLetterTopic } from "@eventline/core"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Effect, Stream } from "effect"
import { DeadLetters, KafkaConsumer, KafkaProducer } from "../src/index.ts"
import { brokers, fastGroup, howToProvideKafka, KafkaTest, scopedTopic, unique } from "./utils.ts"

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("DeadLetters.redrive on Kafka", () => {
  it.live(
    "skips messages without an original topic, stops at maxMessages, and continues from its commits",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("redrive", 1)
        const deadLetterTopic = DeadLetterTopic.topicFor(topic)
        const producer = yield* KafkaProducer.KafkaProducer
        const parked = (value: string) => ({
          key: `key-${value}`,
          value,
          headers: {
            "x-own": value,
            [DeadLetterTopic.Headers.originalTopic]: topic,
            [DeadLetterTopic.Headers.attempts]: "5"
          }
        })
        yield* producer.send(deadLetterTopic, [{ key: "lost", value: "no header" }, parked("a"), parked("b")])
        const groupId = unique("redrive")

        const first = yield* DeadLetters.redrive(deadLetterTopic, { ...fastGroup, groupId, maxMessages: 1 })
        assert.deepStrictEqual(first, { redriven: 1, skipped: 1 })
        const second = yield* DeadLetters.redrive(deadLetterTopic, { ...fastGroup, groupId })
        assert.deepStrictEqual(second, { redriven: 1, skipped: 0 })
        const third = yield* DeadLetters.redrive(deadLetterTopic, { ...fastGroup, groupId })
        assert.deepStrictEqual(third, { redriven: 0, skipped: 0 })

        const back = yield* KafkaConsumer.consume([topic], unique("redriven"), fastGroup).pipe(
          Stream.mapEffect((consumed) => consumed.ack.pipe(Effect.as(consumed))),
          Stream.take(2),
          Stream.runCollect,
          Effect.timeout("20 seconds")
        )
        assert.deepStrictEqual(
          back.map(({ delivery, message }) => ({
            key: delivery.key,
            value: message.value?.toString(),
            headers: delivery.headers
          })),
          ["a", "b"].map((value) => ({
            key: `key-${value}`,
            value,
            headers: { "x-own": value, "redrive-count": "1" }
          }))
        )
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )

  it.live(
    "returns at once when the dead-letter topic is empty",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("redrive-empty", 2)
        const result = yield* DeadLetters.redrive(DeadLetterTopic.topicFor(topic), fastGroup)
        assert.deepStrictEqual(result, { redriven: 0, skipped: 0 })
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )
})
