/**
 * Smoke test of the real broker through kafkajs: create a topic, produce keyed messages, consume
 * them in a consumer group, commit, and read the committed offset back through the admin API.
 *
 * The broker comes from test/globalSetup.ts (`KAFKA_BROKERS`, or scripts/kafka/start.sh).
 *
 * `it.live`, not `it.effect`: `it.effect` provides the TestClock, under which `Effect.timeout`
 * never fires (virtual time only moves with `TestClock.adjust`), and this test waits on real I/O.
 */
import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Effect, Queue, Schema } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { inject } from "vitest"

const brokers = inject("kafkaBrokers")

class KafkaCallError extends Schema.TaggedError<KafkaCallError>()("KafkaCallError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {}

const call = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new KafkaCallError({ operation, cause }) })

interface Connectable {
  connect(): Promise<void>
  disconnect(): Promise<void>
}

/** A connected kafkajs client that is disconnected when the test's scope closes. */
const connected = <C extends Connectable>(name: string, client: C) =>
  Effect.acquireRelease(call(`${name}.connect`, () => client.connect()).pipe(Effect.as(client)), () =>
    call(`${name}.disconnect`, () => client.disconnect()).pipe(Effect.orDie)
  )

interface Received {
  readonly partition: number
  readonly offset: string
  readonly key: string | undefined
  readonly value: string | undefined
}

const messageCount = 10

describe.skipIf(!isAvailable("Kafka", brokers, "set KAFKA_BROKERS or install Java and Maven for scripts/kafka"))(
  "Kafka broker smoke test (kafkajs)",
  () => {
    it.live(
      "creates a topic, produces, consumes in a group and commits offsets",
      () =>
        Effect.gen(function* () {
          const runId = randomUUID()
          const topic = `eventline-smoke-${runId}`
          const groupId = `eventline-smoke-group-${runId}`
          const kafka = new Kafka({
            clientId: "eventline-smoke",
            brokers: (brokers ?? "").split(",").map((broker) => broker.trim()),
            logLevel: logLevel.NOTHING,
            connectionTimeout: 3_000,
            retry: { retries: 5, initialRetryTime: 100 }
          })

          const admin = yield* connected("admin", kafka.admin())
          const created = yield* Effect.acquireRelease(
            call("admin.createTopics", () =>
              admin.createTopics({
                topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
                waitForLeaders: true
              })
            ),
            () => call("admin.deleteTopics", () => admin.deleteTopics({ topics: [topic] })).pipe(Effect.orDie)
          )
          assert.isTrue(created, `topic ${topic} was created`)

          const producer = yield* connected("producer", kafka.producer({ allowAutoTopicCreation: false }))
          const sent = yield* call("producer.send", () =>
            producer.send({
              topic,
              acks: -1,
              messages: Array.from({ length: messageCount }, (_, i) => ({ key: `key-${i}`, value: `value-${i}` }))
            })
          )
          assert.strictEqual(sent.length, 1)
          assert.strictEqual(sent[0]?.errorCode, 0)

          // kafkajs pushes messages into a callback; the queue hands them to this fiber
          const received = yield* Queue.unbounded<Received>()
          const consumer = yield* connected("consumer", kafka.consumer({ groupId, maxWaitTimeInMs: 500 }))
          yield* call("consumer.subscribe", () => consumer.subscribe({ topic, fromBeginning: true }))
          yield* call("consumer.run", () =>
            consumer.run({
              autoCommit: false,
              eachMessage: async ({ partition, message }) => {
                Queue.offerUnsafe(received, {
                  partition,
                  offset: message.offset,
                  key: message.key?.toString(),
                  value: message.value?.toString()
                })
              }
            })
          )

          const messages = yield* Queue.takeN(received, messageCount).pipe(Effect.timeout("20 seconds"))
          assert.deepStrictEqual(
            messages.map(({ key, offset, partition, value }) => ({ key, offset, partition, value })),
            Array.from({ length: messageCount }, (_, i) => ({
              key: `key-${i}`,
              offset: String(i),
              partition: 0,
              value: `value-${i}`
            }))
          )

          // the committed offset is the next one to read: last offset + 1
          const last = messages[messages.length - 1]
          assert.isDefined(last)
          yield* call("consumer.commitOffsets", () =>
            consumer.commitOffsets([{ topic, partition: 0, offset: String(Number(last.offset) + 1) }])
          )

          const committed = yield* call("admin.fetchOffsets", () => admin.fetchOffsets({ groupId, topics: [topic] }))
          assert.deepStrictEqual(
            committed.map(({ partitions, topic }) => ({
              topic,
              partitions: partitions.map(({ offset, partition }) => ({ offset, partition }))
            })),
            [{ topic, partitions: [{ offset: String(messageCount), partition: 0 }] }]
          )
        }),
      60_000
    )
  }
)
