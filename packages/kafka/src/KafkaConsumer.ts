/**
 * Kafka consumer groups for Eventline envelopes, at least once.
 *
 * `run` is the runner most code wants: it decodes each message into its envelope, hands it to
 * a handler (core's `EventBus.handlers({...})` routes by event type), commits the offset only
 * after the handler succeeded, retries failures in place with backoff and parks what keeps
 * failing (and what cannot be decoded) in the dead-letter topic. `consume` is the lower-level form: a
 * `Stream` of messages, each with an `ack` that commits it.
 *
 * Per partition, messages are handled one at a time, in order (so per key, since the key picks
 * the partition); `partitionsConsumedConcurrently` lets several partitions progress at once.
 * Offsets are committed for processed messages only (auto-commit is off): at the end of each
 * fetched batch and at least every `commitInterval` (100 ms) within one, and at a graceful stop.
 * A crash redelivers what each partition processed since its last commit; handlers are
 * idempotent anyway (at least once).
 *
 * @since 0.1.0
 */
import { DeadLetterTopic, EventBus, type EventEnvelope } from "@eventline/core"
import { DateTime, Deferred, Effect, Queue, type Result, type Scope, Stream } from "effect"
import type { KafkaMessage } from "kafkajs"
import * as EnvelopeCodec from "./EnvelopeCodec.ts"
import type * as Loop from "./internal/consumerLoop.ts"
import { Abandoned, type Control, type LoopMessage, loopOptions, start } from "./internal/consumerLoop.ts"
import { admin, callRetrying, KafkaClient, type KafkaError } from "./KafkaClient.ts"
import { ensureTopics, KafkaProducer } from "./KafkaProducer.ts"

/**
 * Kafka consumer-group settings: session, rebalance and heartbeat timings, fetch wait,
 * partitions handled at the same time.
 *
 * @category models
 * @since 0.1.0
 */
export type GroupOptions = Loop.GroupOptions

/**
 * @category models
 * @since 0.1.0
 */
export interface KafkaRunOptions extends EventBus.RunOptions, GroupOptions {
  /**
   * Create the missing dead-letter topics at start, with as many partitions as their source
   * topics. Default true.
   */
  readonly provisionDeadLetterTopics?: boolean | undefined
}

const deliveryOf = (message: LoopMessage): Omit<EventBus.Delivery, "attempt"> => ({
  topic: message.topic,
  partition: message.partition,
  offset: message.message.offset,
  key: message.message.key === null ? undefined : message.message.key.toString("utf8"),
  headers: EnvelopeCodec.headersToRecord(message.message.headers)
})

const provisionDeadLetterTopics = (topics: ReadonlyArray<string>, deadLetterTopic: (topic: string) => string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* admin
      const metadata = yield* callRetrying("admin.fetchTopicMetadata", () =>
        client.fetchTopicMetadata({ topics: [...topics] })
      )
      yield* ensureTopics(
        metadata.topics.map(({ name, partitions }) => ({
          topic: deadLetterTopic(name),
          numPartitions: Math.max(1, partitions.length)
        }))
      )
    })
  )

/**
 * Run a member of consumer group `groupId` over `topics` until the scope closes.
 *
 * - The offset of a message is committed after `handler` succeeded for it, or after it was
 *   parked; never before (at least once).
 * - A failing (or dying) handler is retried in place on `options.retry` (default: 100 ms
 *   doubling, jittered, 5 attempts); after the last attempt the message is sent to
 *   `<topic>.dlq` with its key, value and headers unchanged plus the `DeadLetterTopic.Headers`,
 *   and the runner moves on to the next message.
 * - A message whose value is not an envelope goes to the dead-letter topic at once.
 * - Closing the scope stops gracefully: no new message is started, the one in flight finishes
 *   its current attempt (committed if it succeeded, otherwise left for redelivery), then the
 *   member leaves the group so its partitions move at once. After `shutdownTimeout` the
 *   handler is interrupted.
 *
 * @category running
 * @since 0.1.0
 */
export const run = <E, R>(
  topics: ReadonlyArray<string>,
  groupId: string,
  handler: EventBus.Handler<E, R>,
  options: KafkaRunOptions = {}
): Effect.Effect<EventBus.Runner<KafkaError>, KafkaError, KafkaClient | KafkaProducer | Scope.Scope | R> =>
  Effect.gen(function* () {
    const { kafka } = yield* KafkaClient
    const producer = yield* KafkaProducer
    const context = yield* Effect.context<R>()
    const deadLetterTopic = options.deadLetterTopic ?? DeadLetterTopic.topicFor
    const schedule = options.retry ?? EventBus.defaultRetry
    if (options.provisionDeadLetterTopics ?? true) yield* provisionDeadLetterTopics(topics, deadLetterTopic)

    const park = (message: LoopMessage, failure: Omit<DeadLetterTopic.Parking, "deadLetteredAt" | "groupId">) =>
      Effect.gen(function* () {
        const topic = deadLetterTopic(message.topic)
        const deadLetteredAt = yield* DateTime.now
        yield* producer.send(topic, [
          {
            key: message.message.key,
            value: message.message.value,
            headers: {
              ...message.message.headers,
              ...DeadLetterTopic.headers({ ...failure, groupId, deadLetteredAt })
            }
          }
        ])
        yield* Effect.logWarning(`parked in ${topic} after ${failure.attempts} attempt(s): ${failure.error}`)
      })

    const process = (message: LoopMessage, control: Control) =>
      Effect.gen(function* () {
        const delivery = deliveryOf(message)
        const origin = { topic: message.topic, partition: message.partition, offset: message.message.offset }
        const decoded = yield* Effect.result(EnvelopeCodec.decode(message.message))
        if (decoded._tag === "Failure") {
          return yield* park(message, {
            ...origin,
            error: decoded.failure.reason,
            errorType: decoded.failure._tag,
            attempts: 1,
            firstFailureAt: yield* DateTime.now
          })
        }
        const outcome = yield* EventBus.handleWithRetries(
          handler,
          decoded.success,
          delivery,
          schedule,
          control.stopped
        ).pipe(Effect.provideContext(context))
        switch (outcome._tag) {
          case "Handled":
            return
          case "Abandoned":
            return yield* new Abandoned({})
          case "Failed":
            return yield* park(message, { ...origin, ...outcome })
        }
      }).pipe(
        Effect.annotateLogs({
          component: "KafkaConsumer",
          groupId,
          topic: message.topic,
          partition: message.partition,
          offset: message.message.offset
        })
      )

    const loop = yield* start(kafka, loopOptions(topics, groupId, options), process)
    return { ready: loop.ready, done: loop.done }
  })

/**
 * One message of `consume`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Consumed {
  readonly delivery: Omit<EventBus.Delivery, "attempt">
  /** The raw kafkajs message (key, value, headers, timestamp). */
  readonly message: KafkaMessage
  /** The value decoded into its envelope, or why it could not be. */
  readonly envelope: Result.Result<EventEnvelope.RecordedEvent, EnvelopeCodec.UndecodableMessage>
  /**
   * Commit this message; succeeds once the broker has the offset. The next message of the
   * same partition is emitted only after this one was acked.
   */
  readonly ack: Effect.Effect<void, KafkaError>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ConsumeOptions extends GroupOptions {
  /** See `RunOptions.fromBeginning`. Default true. */
  readonly fromBeginning?: boolean | undefined
}

/**
 * The messages of `topics` for consumer group `groupId`, as a `Stream`; each one carries an
 * `ack` that commits it. A partition emits its next message only after the previous one was
 * acked, so order per key is kept and nothing is committed before it was processed. There are
 * no retries or dead letters here (that is `run`): what the stream does with a message that
 * fails is up to it; a message that is never acked is delivered again after the stream ends.
 *
 * Ending the stream (or interrupting it) leaves the group; un-acked messages are not
 * committed.
 *
 * @example
 * ```ts
 * import { KafkaConsumer } from "@eventline/kafka"
 * import { Effect, Stream } from "effect"
 *
 * declare const audit: (consumed: KafkaConsumer.Consumed) => Effect.Effect<void>
 *
 * const program = KafkaConsumer.consume(["orders"], "audit").pipe(
 *   Stream.mapEffect((consumed) => audit(consumed).pipe(Effect.andThen(consumed.ack))),
 *   Stream.runDrain
 * )
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const consume = (
  topics: ReadonlyArray<string>,
  groupId: string,
  options: ConsumeOptions = {}
): Stream.Stream<Consumed, KafkaError, KafkaClient> =>
  Stream.callback<Consumed, KafkaError, KafkaClient>((queue) =>
    Effect.gen(function* () {
      const { kafka } = yield* KafkaClient
      const process = (message: LoopMessage, control: Control) =>
        Effect.gen(function* () {
          const acked = yield* Deferred.make<void>()
          const committed = yield* Deferred.make<void, KafkaError>()
          const envelope = yield* Effect.result(EnvelopeCodec.decode(message.message))
          yield* Queue.offer(queue, {
            delivery: deliveryOf(message),
            message: message.message,
            envelope,
            ack: Deferred.succeed(acked, undefined).pipe(Effect.andThen(Deferred.await(committed)))
          })
          yield* Deferred.await(acked)
          const exit = yield* Effect.exit(control.commit)
          yield* Deferred.done(committed, exit)
          return yield* exit
        })
      // nobody acks once the stream has ended: do not wait for the message in flight
      const loop = yield* start(
        kafka,
        { ...loopOptions(topics, groupId, { ...options, shutdownTimeout: 0 }), warnOnShutdownTimeout: false },
        process
      )
      yield* loop.done.pipe(
        Effect.catch((error) => Queue.fail(queue, error)),
        Effect.forkScoped
      )
    })
  )
