/**
 * Dead-letter topics: what a parked message carries, and `redrive`, which moves parked
 * messages back to the topics they came from once the cause of their failure is fixed.
 *
 * A message is parked in `<topic>.dlq` with its key, value and headers unchanged, plus the
 * `dlq-*` headers of `Headers` (where it came from, which group gave up on it, why, after how
 * many attempts, since when). Redrive strips the `dlq-*` headers again and counts the redrives
 * in `redrive-count`.
 *
 * @since 0.1.0
 */
import { DateTime, Deferred, Effect, Exit } from "effect"
import type { IHeaders } from "kafkajs"
import { headersToRecord } from "./EnvelopeCodec.ts"
import type { RedriveOptions, RedriveResult } from "./EventBus.ts"
import { Abandoned, type LoopMessage, loopOptions, start } from "./internal/consumerLoop.ts"
import { admin, callRetrying, KafkaClient, type KafkaError } from "./KafkaClient.ts"
import type { GroupOptions } from "./KafkaConsumer.ts"
import { KafkaProducer } from "./KafkaProducer.ts"

/**
 * The headers of a parked message.
 *
 * @category constants
 * @since 0.1.0
 */
export const Headers = {
  /** The topic the message was read from: where redrive sends it back. */
  originalTopic: "dlq-original-topic",
  originalPartition: "dlq-original-partition",
  originalOffset: "dlq-original-offset",
  /** The consumer group whose handler gave up. */
  consumerGroup: "dlq-consumer-group",
  /** The last failure's message. */
  error: "dlq-error",
  /** The last failure's tag or class (`UndecodableMessage` for a poison message). */
  errorType: "dlq-error-type",
  /** How many times the handler ran (1 for a message that could not be decoded). */
  attempts: "dlq-attempts",
  /** When the first attempt failed (ISO-8601). */
  firstFailureAt: "dlq-first-failure-at",
  /** When the message was parked (ISO-8601). */
  deadLetteredAt: "dlq-dead-lettered-at",
  /** How many times the message was redriven (set by redrive). */
  redriveCount: "redrive-count"
} as const

/**
 * The dead-letter topic of a topic: `<topic>.dlq`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const topicFor = (topic: string): string => `${topic}.dlq`

/**
 * Why and from where a message is parked.
 *
 * @category models
 * @since 0.1.0
 */
export interface Parking {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly groupId: string
  readonly error: string
  readonly errorType: string
  readonly attempts: number
  readonly firstFailureAt: DateTime.Utc
  readonly deadLetteredAt: DateTime.Utc
}

/**
 * The `dlq-*` headers of a parked message.
 *
 * @category constructors
 * @since 0.1.0
 */
export const headers = (parking: Parking): Record<string, string> => ({
  [Headers.originalTopic]: parking.topic,
  [Headers.originalPartition]: String(parking.partition),
  [Headers.originalOffset]: parking.offset,
  [Headers.consumerGroup]: parking.groupId,
  [Headers.error]: parking.error,
  [Headers.errorType]: parking.errorType,
  [Headers.attempts]: String(parking.attempts),
  [Headers.firstFailureAt]: DateTime.formatIso(parking.firstFailureAt),
  [Headers.deadLetteredAt]: DateTime.formatIso(parking.deadLetteredAt)
})

const isDeadLetterHeader = (name: string): boolean => name.startsWith("dlq-")

/**
 * The headers a redriven message goes back with: the original ones, without `dlq-*`, and
 * `redrive-count` one higher.
 *
 * @category constructors
 * @since 0.1.0
 */
export const redriveHeaders = (headers: IHeaders): IHeaders => {
  const kept: IHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!isDeadLetterHeader(name) && name !== Headers.redriveCount) kept[name] = value
  }
  const previous = Number(headersToRecord(headers)[Headers.redriveCount] ?? "0")
  kept[Headers.redriveCount] = String((Number.isFinite(previous) ? previous : 0) + 1)
  return kept
}

/**
 * Options of the Kafka `redrive`.
 *
 * @category models
 * @since 0.1.0
 */
export interface KafkaRedriveOptions extends RedriveOptions, GroupOptions {}

/**
 * Move the messages of a Kafka dead-letter topic back to their original topics (from the
 * `dlq-original-topic` header), with their key, value and other headers, committing each
 * dead-letter offset after its message was re-sent. It stops when the group has caught up with
 * the end the dead-letter topic had when redrive started (lag 0), or after `maxMessages`.
 * Messages without the header are skipped (committed, logged).
 *
 * @category redrive
 * @since 0.1.0
 */
export const redrive = (
  deadLetterTopic: string,
  options: KafkaRedriveOptions = {}
): Effect.Effect<RedriveResult, KafkaError, KafkaClient | KafkaProducer> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { kafka } = yield* KafkaClient
      const producer = yield* KafkaProducer
      const groupId = options.groupId ?? `${deadLetterTopic}.redrive`
      const maxMessages = options.maxMessages ?? Number.POSITIVE_INFINITY

      // where each partition starts (committed, else the log start) and the end to reach
      const { ends, positions } = yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* admin
          const topicOffsets = yield* callRetrying("admin.fetchTopicOffsets", () =>
            client.fetchTopicOffsets(deadLetterTopic)
          )
          const committed = yield* callRetrying("admin.fetchOffsets", () =>
            client.fetchOffsets({ groupId, topics: [deadLetterTopic] })
          )
          const committedByPartition = new Map(
            (committed[0]?.partitions ?? []).map(({ offset, partition }) => [partition, BigInt(offset)])
          )
          const ends = new Map<number, bigint>()
          const positions = new Map<number, bigint>()
          for (const { high, low, partition } of topicOffsets) {
            const start = committedByPartition.get(partition) ?? -1n
            ends.set(partition, BigInt(high))
            positions.set(partition, start >= BigInt(low) ? start : BigInt(low))
          }
          return { ends, positions }
        })
      )
      const caughtUp = () => [...ends].every(([partition, end]) => (positions.get(partition) ?? 0n) >= end)
      let redriven = 0
      let skipped = 0
      const result = (): RedriveResult => ({ redriven, skipped })
      if (caughtUp() || maxMessages <= 0) return result()

      const finished = yield* Deferred.make<void>()
      const process = (message: LoopMessage) =>
        Effect.gen(function* () {
          const end = ends.get(message.partition) ?? 0n
          if (redriven >= maxMessages || BigInt(message.message.offset) >= end) {
            return yield* new Abandoned({ pause: true })
          }
          const original = headersToRecord(message.message.headers)[Headers.originalTopic]
          if (original === undefined || original === "") {
            skipped += 1
            yield* Effect.logWarning(
              `message ${message.partition}/${message.message.offset} of ${deadLetterTopic} has no ${Headers.originalTopic} header: skipped`
            )
            return
          }
          yield* producer.send(original, [
            {
              key: message.message.key,
              value: message.message.value,
              headers: redriveHeaders(message.message.headers ?? {})
            }
          ])
          redriven += 1
        })

      const loop = yield* start(
        kafka,
        loopOptions([deadLetterTopic], groupId, { ...options, fromBeginning: true, shutdownTimeout: "10 seconds" }),
        process,
        {
          onCommitted: (_topic, partition, next) => {
            positions.set(partition, next)
            if (caughtUp() || redriven >= maxMessages) Deferred.doneUnsafe(finished, Exit.void)
          }
        }
      )
      yield* Effect.raceFirst(Deferred.await(finished), loop.done)
      yield* Effect.logInfo(`redrove ${redriven} message(s) from ${deadLetterTopic}, skipped ${skipped}`)
      return result()
    })
  )
