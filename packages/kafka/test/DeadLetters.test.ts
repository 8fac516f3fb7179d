/**
 * Dead-letter headers, and the Kafka redrive: headerless messages are skipped, `maxMessages`
 * stops early, a second redrive continues where the first stopped, and redriven messages keep
 * their key, value and own headers.
 */
import { assert, describe, it } from "@effect/vitest"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { DateTime, Effect, Stream } from "effect"
import { DeadLetters, KafkaConsumer, KafkaProducer } from "../src/index.ts"
import { brokers, fastGroup, howToProvideKafka, KafkaTest, scopedTopic, unique } from "./utils.ts"

describe("DeadLetters headers", () => {
  it("names the dead-letter topic and writes where a message came from and why it failed", () => {
    assert.strictEqual(DeadLetters.topicFor("orders"), "orders.dlq")
    assert.deepStrictEqual(
      DeadLetters.headers({
        topic: "orders",
        partition: 2,
        offset: "41",
        groupId: "billing",
        error: "card declined",
        errorType: "PaymentFailed",
        attempts: 5,
        firstFailureAt: DateTime.makeUnsafe("2026-11-27T10:00:00.000Z"),
        deadLetteredAt: DateTime.makeUnsafe("2026-11-27T10:00:01.500Z")
      }),
      {
        "dlq-original-topic": "orders",
        "dlq-original-partition": "2",
        "dlq-original-offset": "41",
        "dlq-consumer-group": "billing",
        "dlq-error": "card declined",
        "dlq-error-type": "PaymentFailed",
        "dlq-attempts": "5",
        "dlq-first-failure-at": "2026-11-27T10:00:00.000Z",
        "dlq-dead-lettered-at": "2026-11-27T10:00:01.500Z"
      }
    )
  })

  it("strips the dlq-* headers on redrive and counts the redrives", () => {
    const once = DeadLetters.redriveHeaders({
      "event-id": "e-1",
      "dlq-original-topic": "orders",
      "dlq-error": "x"
    })
    assert.deepStrictEqual(once, { "event-id": "e-1", "redrive-count": "1" })
    assert.deepStrictEqual(DeadLetters.redriveHeaders({ ...once, "dlq-attempts": "5" }), {
      "event-id": "e-1",
      "redrive-count": "2"
    })
  })
})

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("DeadLetters.redrive on Kafka", () => {
  it.live(
    "skips messages without an original topic, stops at maxMessages, and continues from its commits",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("redrive", 1)
        const deadLetterTopic = DeadLetters.topicFor(topic)
        const producer = yield* KafkaProducer.KafkaProducer
        const parked = (value: string) => ({
          key: `key-${value}`,
          value,
          headers: { "x-own": value, [DeadLetters.Headers.originalTopic]: topic, [DeadLetters.Headers.attempts]: "5" }
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
        const result = yield* DeadLetters.redrive(DeadLetters.topicFor(topic), fastGroup)
        assert.deepStrictEqual(result, { redriven: 0, skipped: 0 })
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )
})
