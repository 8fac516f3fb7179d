/**
 * The idempotent producer and topic provisioning on the real broker.
 */
import { assert, describe, it } from "@effect/vitest"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Effect } from "effect"
import { KafkaClient, KafkaProducer } from "../src/index.ts"
import { brokers, howToProvideKafka, KafkaTest, scopedTopic, unique } from "./utils.ts"

const partitionCount = (topic: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const admin = yield* KafkaClient.admin
      const metadata = yield* KafkaClient.call("admin.fetchTopicMetadata", () =>
        admin.fetchTopicMetadata({ topics: [topic] })
      )
      return metadata.topics[0]?.partitions.length ?? 0
    })
  )

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("KafkaProducer", () => {
  it.live(
    "sends to one topic and to several, answering with the record metadata",
    () =>
      Effect.gen(function* () {
        const [first, second] = [yield* scopedTopic("send", 1), yield* scopedTopic("send", 1)]
        const producer = yield* KafkaProducer.KafkaProducer
        const sent = yield* producer.send(first, [
          { key: "k", value: "1" },
          { key: "k", value: "2" }
        ])
        assert.deepStrictEqual(
          sent.map(({ errorCode, topicName }) => ({ errorCode, topicName })),
          [{ errorCode: 0, topicName: first }]
        )
        const batch = yield* producer.sendBatch([
          { topic: first, messages: [{ key: "k", value: "3" }] },
          { topic: second, messages: [{ key: "k", value: "a" }] },
          { topic: second, messages: [] }
        ])
        assert.sameMembers(
          batch.map(({ topicName }) => topicName),
          [first, second]
        )
        assert.deepStrictEqual(yield* producer.send(first, []), [])

        const admin = yield* KafkaClient.admin
        const offsets = yield* KafkaClient.call("admin.fetchTopicOffsets", () => admin.fetchTopicOffsets(first))
        assert.strictEqual(offsets[0]?.high, "3")
      }).pipe(Effect.provide(KafkaTest)),
    30_000
  )

  it.live(
    "a send to a topic that does not exist fails with a KafkaError",
    () =>
      Effect.gen(function* () {
        const producer = yield* KafkaProducer.KafkaProducer
        const error = yield* Effect.flip(
          producer.send(unique("eventline-test-nowhere"), [{ value: "x" }]).pipe(Effect.timeout("25 seconds"))
        )
        assert.strictEqual(error._tag, "KafkaError")
      }).pipe(Effect.provide(KafkaTest)),
    30_000
  )

  it.live(
    "ensureTopics creates what is missing, waits for leaders, and leaves existing topics alone",
    () =>
      Effect.gen(function* () {
        const existing = yield* scopedTopic("ensure", 2)
        const created = unique("eventline-test-ensure-new")
        yield* Effect.addFinalizer(() =>
          Effect.scoped(
            Effect.gen(function* () {
              const admin = yield* KafkaClient.admin
              yield* KafkaClient.call("admin.deleteTopics", () => admin.deleteTopics({ topics: [created] }))
            })
          ).pipe(Effect.ignore)
        )
        const specs = [
          { topic: existing, numPartitions: 5 },
          { topic: created, numPartitions: 3, replicationFactor: 1, configEntries: { "retention.ms": "-1" } }
        ]
        yield* KafkaProducer.ensureTopics(specs)
        yield* KafkaProducer.ensureTopics(specs)
        assert.strictEqual(yield* partitionCount(existing), 2, "an existing topic keeps its partitions")
        assert.strictEqual(yield* partitionCount(created), 3)
        // the new topic is usable at once
        const producer = yield* KafkaProducer.KafkaProducer
        const sent = yield* producer.send(created, [{ key: "k", value: "v" }])
        assert.strictEqual(sent[0]?.errorCode, 0)
      }).pipe(Effect.provide(KafkaTest)),
    30_000
  )
})
