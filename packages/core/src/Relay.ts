/**
 * The store-to-bus relay: the event store is the outbox. A subscription to the global log
 * publishes every committed event to `<streamType>-events` (lower-cased; configurable) through
 * the `EventBus` in context (Kafka, or the store-backed bus), keyed by stream id so each stream
 * keeps its order within its partition. The checkpoint moves only after the bus acknowledged the
 * batch: a crash or a broker outage delays events, never loses them; what was sent but not
 * checkpointed is sent again (at least once), and consumers drop the repeats (`ProcessedEvents`).
 *
 * Throughput: the relay reads a page of `batchSize` events while the previous page is being
 * published, and hands each topic's share of a page to one `publish`; the Kafka bus sends it in
 * requests of its own size, encoding the next request while one is in flight, so the checkpoint
 * write and the page turn happen once per several broker requests.
 *
 * @since 0.2.0
 */
import { type Duration, Effect, Metric, Schedule, type Scope } from "effect"
import { EventBus } from "./EventBus.ts"
import type { RecordedEvent } from "./EventEnvelope.ts"
import * as Subscription from "./Subscription.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** The relay's subscription id (its checkpoint). Default: `kafka-relay`. */
  readonly name?: string | undefined
  /** The stream types to relay. Default: all. */
  readonly streamTypes?: ReadonlyArray<string> | undefined
  /** The topic of a stream type. Default: `<streamType>-events`, lower-cased. */
  readonly topicOf?: ((streamType: string) => string) | undefined
  /**
   * Events per page: read, published (a bus may split them into several requests, in order)
   * and checkpointed together. At most this many are sent again after a crash. Default: 2000.
   */
  readonly batchSize?: number | undefined
  /** How a failed publish is retried before the relay restarts from its checkpoint. Default: 100 ms doubling, capped at 5 s, for ~1 min. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * The subscription's lease (`Subscription.Options.leaseTtl`): after a crash, another process
   * (or the restarted one) takes over once it expires. Default: 10 seconds.
   *
   * @since 0.3.0
   */
  readonly leaseTtl?: Duration.Input | undefined
}

/**
 * The default topic of a stream type.
 *
 * @category topics
 * @since 0.2.0
 */
export const defaultTopicOf = (streamType: string): string => `${streamType.toLowerCase()}-events`

const relayed = Metric.counter("eventline_relay_events_total", {
  description: "events published by the store-to-bus relay",
  incremental: true
})

const defaultRetry = Schedule.min([Schedule.exponential("100 millis", 2), Schedule.spaced("5 seconds")]).pipe(
  Schedule.upTo({ duration: "1 minute" })
)

/**
 * Start the relay for the lifetime of the current scope.
 *
 * @category constructors
 * @since 0.2.0
 */
export const start = (
  options: Options = {}
): Effect.Effect<Subscription.Handle, never, Scope.Scope | Subscription.Services | EventBus> =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const topicOf = options.topicOf ?? defaultTopicOf
    const publishBatch = (batch: ReadonlyArray<RecordedEvent>) =>
      Effect.gen(function* () {
        // one request per topic, events in log order, so every key keeps its order
        const byTopic = new Map<string, Array<RecordedEvent>>()
        for (const event of batch) {
          const topic = topicOf(event.streamType)
          const events = byTopic.get(topic)
          if (events === undefined) byTopic.set(topic, [event])
          else events.push(event)
        }
        yield* Effect.forEach(byTopic, ([topic, events]) => bus.publish(topic, events), { discard: true })
        yield* Metric.update(relayed, batch.length)
      }).pipe(Effect.tapError((error) => Effect.logWarning("relay: publishing failed; retrying", error)))
    return yield* Subscription.start({
      name: options.name ?? "kafka-relay",
      streamTypes: options.streamTypes,
      transactional: false,
      batchSize: options.batchSize ?? 2000,
      retry: options.retry ?? defaultRetry,
      leaseTtl: options.leaseTtl,
      handle: (event) => publishBatch([event]),
      handleBatch: publishBatch
    })
  })
