/**
 * Kafka dead-letter topics: `redrive`, which moves parked messages back to the topics they came
 * from once the cause of their failure is fixed. What a parked message carries (the `dlq-*`
 * headers, `<topic>.dlq`) is the same on every bus: see core's `DeadLetterTopic`.
 *
 * @since 0.1.0
 */
import { DeadLetterTopic, type EventBus } from "@eventline/core"
import { Deferred, Effect, Exit } from "effect"
import type { IHeaders } from "kafkajs"
import { headersToRecord } from "./EnvelopeCodec.ts"
import { Abandoned, type GroupOptions, type LoopMessage, loopOptions, start } from "./internal/consumerLoop.ts"
import { admin, callRetrying, KafkaClient, type KafkaError } from "./KafkaClient.ts"
import { KafkaProducer } from "./KafkaProducer.ts"

const { Headers } = DeadLetterTopic

/** `DeadLetterTopic.redriveHeaders` over raw Kafka headers: the other values stay as they were. */
const redriveHeaders = (headers: IHeaders): IHeaders => {
  const kept: IHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!DeadLetterTopic.isDeadLetterHeader(name) && name !== Headers.redriveCount) kept[name] = value
  }
  kept[Headers.redriveCount] = DeadLetterTopic.nextRedriveCount(headersToRecord(headers)[Headers.redriveCount])
  return kept
}

/**
 * Options of the Kafka `redrive`.
 *
 * @category models
 * @since 0.1.0
 */
export interface KafkaRedriveOptions extends EventBus.RedriveOptions, GroupOptions {}

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
): Effect.Effect<EventBus.RedriveResult, KafkaError, KafkaClient | KafkaProducer> =>
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
      const result = (): EventBus.RedriveResult => ({ redriven, skipped })
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
