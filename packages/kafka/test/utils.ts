/**
 * Helpers for the Kafka suites: the broker from the global setup, the client layers, throwaway
 * topics (created with their dead-letter topics, deleted afterwards) and envelopes to publish.
 */
import { EventBusConformance } from "@eventline/testing"
import { Effect, Layer, References, type Scope } from "effect"
import { inject } from "vitest"
import { KafkaClient, KafkaProducer } from "../src/index.ts"

export const brokers = inject("kafkaBrokers")

export const howToProvideKafka = "set KAFKA_BROKERS or install Java and Maven for scripts/kafka"

/** Retries and parked messages log warnings by design; the suites keep only errors. */
export const QuietLogs = Layer.succeed(References.MinimumLogLevel, "Error")

/** The client and an idempotent producer on the test broker. */
export const KafkaTest = KafkaProducer.layer().pipe(
  Layer.provideMerge(
    KafkaClient.layer({
      brokers: (brokers ?? "").split(","),
      clientId: "eventline-test",
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 }
    })
  ),
  Layer.provideMerge(QuietLogs)
)

/** Consumer-group timings that keep joins and rebalances quick in tests. */
export const fastGroup = {
  sessionTimeout: 6_000,
  rebalanceTimeout: 6_000,
  heartbeatInterval: 500,
  maxWaitTimeInMs: 200
} as const

/** A name no other test (or test run) uses. */
export const unique = EventBusConformance.unique

/**
 * Create `topic` (and its dead-letter topic) for the test, and delete both when the test's
 * scope closes.
 */
export const scopedTopic = (
  prefix: string,
  numPartitions = 1
): Effect.Effect<string, KafkaClient.KafkaError, KafkaClient.KafkaClient | Scope.Scope> =>
  Effect.gen(function* () {
    const topic = unique(`eventline-test-${prefix}`)
    const topics = [topic, `${topic}.dlq`]
    // the clean-up is registered first: it also runs when the creation fails half-way
    yield* Effect.addFinalizer(() =>
      Effect.scoped(
        Effect.gen(function* () {
          const admin = yield* KafkaClient.admin
          // the topic, its dead-letter topic, and any topic a test made from them
          const existing = yield* KafkaClient.call("admin.listTopics", () => admin.listTopics())
          const mine = existing.filter((name) => name === topic || name.startsWith(`${topic}.`))
          if (mine.length > 0) yield* KafkaClient.call("admin.deleteTopics", () => admin.deleteTopics({ topics: mine }))
        })
      ).pipe(Effect.ignore)
    )
    // admin.createTopics, then a wait until every partition has a leader (see ensureTopics)
    yield* KafkaProducer.ensureTopics(topics.map((name) => ({ topic: name, numPartitions, replicationFactor: 1 })))
    return topic
  })

/** A recorded event as the store would hand it out. */
export const envelope = EventBusConformance.envelope
