/**
 * The event bus contract: publish recorded events to topics and run consumer groups over them,
 * with the same delivery rules whatever carries the messages. Three implementations: the
 * in-memory `InProcessBus` (a fast test fake: it keeps nothing across a restart), the durable
 * store-backed `PgEventBus` of @eventline/postgres (the embedded default: topics and consumer
 * offsets in the store's database) and Apache Kafka (`KafkaEventBus.layer` in @eventline/kafka),
 * so code written against `EventBus` runs on any; all pass `EventBusConformance` of
 * @eventline/testing.
 *
 * Rules every implementation keeps:
 * - at least once: a message's offset is committed only after its handler succeeded (or after
 *   it was parked in the dead-letter topic); a runner that stops or crashes before that leaves
 *   the message to be delivered again, so handlers must be idempotent (see `ProcessedEvents`);
 * - order per key: messages with the same key (the stream id) are handled one after another, in
 *   the order they were published;
 * - a failing handler is retried in place (the partition waits) on the `retry` schedule; after
 *   the last attempt the message goes to the dead-letter topic (`<topic>.dlq`) with headers
 *   that say where it came from and why it failed (`DeadLetterTopic.Headers`), and the runner
 *   moves on; `redrive` moves parked messages back;
 * - closing a runner's scope stops it gracefully: the message in flight finishes its current
 *   attempt and is committed if it succeeded (no further retries), then the runner leaves.
 *
 * @since 0.2.0
 */
import { Context, type Duration, Effect, Schedule, type Scope } from "effect"
import type * as Errors from "./Errors.ts"
import type * as EventEnvelope from "./EventEnvelope.ts"
import * as Handling from "./internal/handling.ts"

/**
 * Where and how a message was delivered to a handler.
 *
 * @category models
 * @since 0.2.0
 */
export interface Delivery {
  readonly topic: string
  readonly partition: number
  /** The message's offset in its partition (a decimal string: Kafka offsets are 64-bit). */
  readonly offset: string
  /** The message key: the stream id for messages published from the event store. */
  readonly key: string | undefined
  readonly headers: Readonly<Record<string, string>>
  /** 1 on the first attempt, 2 on the first retry, ... */
  readonly attempt: number
}

/**
 * A handler of decoded envelopes. Failing (or dying) makes the message be retried, then parked.
 *
 * @category models
 * @since 0.2.0
 */
export type Handler<E = never, R = never> = (
  event: EventEnvelope.RecordedEvent,
  delivery: Delivery
) => Effect.Effect<void, E, R>

/**
 * The failure type of a handler.
 *
 * @category models
 * @since 0.2.0
 */
export type HandlerError<H> = H extends Handler<infer E, infer _R> ? E : never

/**
 * The services a handler needs.
 *
 * @category models
 * @since 0.2.0
 */
export type HandlerServices<H> = H extends Handler<infer _E, infer R> ? R : never

/**
 * The default retry schedule: exponential from 100 ms, doubling, jittered (x0.8-1.2), at most
 * 4 retries (5 attempts in all, about 1.5 s before a message is parked).
 *
 * @category constants
 * @since 0.2.0
 */
export const defaultRetry: Schedule.Schedule<unknown> = Schedule.exponential("100 millis", 2).pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 4 })
)

/**
 * Options every implementation understands.
 *
 * @category models
 * @since 0.2.0
 */
export interface RunOptions {
  /** When to retry a failing handler; its input is the failure. Default `defaultRetry`. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** The dead-letter topic of a topic. Default `<topic>.dlq`. */
  readonly deadLetterTopic?: ((topic: string) => string) | undefined
  /**
   * Where a group without committed offsets starts: true (the default) reads each topic from
   * its beginning, false only what is published after the group first joined.
   */
  readonly fromBeginning?: boolean | undefined
  /**
   * How long closing the runner's scope waits for the message in flight before interrupting
   * it (it is then not committed and will be redelivered). Default 10 seconds.
   */
  readonly shutdownTimeout?: Duration.Input | undefined
}

/**
 * A running consumer.
 *
 * @category models
 * @since 0.2.0
 */
export interface Runner<E = never> {
  /**
   * Succeeds once the runner has joined its group. On Kafka a member may join with no
   * partitions (more members than partitions); in process, a second member of a group waits
   * for the first to stop before it is ready.
   */
  readonly ready: Effect.Effect<void>
  /** Fails if the runner stops on its own, for a reason it cannot recover from; never succeeds. */
  readonly done: Effect.Effect<never, E>
}

/**
 * @category models
 * @since 0.2.0
 */
export interface RedriveOptions {
  /** The consumer group that reads the dead-letter topic. Default `<dead-letter topic>.redrive`. */
  readonly groupId?: string | undefined
  /** Stop after this many messages were moved. Default: no limit. */
  readonly maxMessages?: number | undefined
}

/**
 * @category models
 * @since 0.2.0
 */
export interface RedriveResult {
  /** Messages sent back to their original topic. */
  readonly redriven: number
  /** Messages without a `dlq-original-topic` header: acknowledged, left where they were. */
  readonly skipped: number
}

/**
 * @category services
 * @since 0.2.0
 */
export class EventBus extends Context.Service<
  EventBus,
  {
    /** Publish events to a topic, keyed by stream id; succeeds once they are durably stored. */
    publish(
      topic: string,
      events: ReadonlyArray<EventEnvelope.RecordedEvent>
    ): Effect.Effect<void, Errors.InfrastructureError | Errors.InvalidEvent>
    /** Run a consumer group member until the scope closes (see the module rules). */
    run<E, R>(
      topics: ReadonlyArray<string>,
      groupId: string,
      handler: Handler<E, R>,
      options?: RunOptions
    ): Effect.Effect<Runner<Errors.InfrastructureError>, Errors.InfrastructureError, R | Scope.Scope>
    /**
     * Move the messages of a dead-letter topic back to their original topics, up to the end
     * the dead-letter topic had when redrive started (messages that fail again and come back
     * are not redriven twice in one call).
     */
    redrive(deadLetterTopic: string, options?: RedriveOptions): Effect.Effect<RedriveResult, Errors.InfrastructureError>
  }
>()("@eventline/core/EventBus") {}

/**
 * Route envelopes to handlers by event type. Events of a type with no handler are
 * acknowledged and skipped (logged at debug level), so a consumer can listen to a topic that
 * carries more event types than it cares about.
 *
 * @example
 * ```ts
 * import { EventBus } from "@eventline/core"
 * import { Effect } from "effect"
 *
 * const handler = EventBus.handlers({
 *   OrderCreated: (event) => Effect.log("created", event.streamId),
 *   OrderCancelled: (event, delivery) => Effect.log("cancelled", event.streamId, delivery.attempt)
 * })
 * ```
 *
 * @category combinators
 * @since 0.2.0
 */
export const handlers = <const H extends Readonly<Record<string, Handler<unknown, unknown>>>>(
  registry: H
): Handler<HandlerError<H[keyof H]>, HandlerServices<H[keyof H]>> => {
  const routes = new Map<string, Handler<HandlerError<H[keyof H]>, HandlerServices<H[keyof H]>>>()
  for (const [type, handler] of Object.entries(registry)) {
    routes.set(type, handler as Handler<HandlerError<H[keyof H]>, HandlerServices<H[keyof H]>>)
  }
  return (event, delivery) => {
    const route = routes.get(event.type)
    return route === undefined
      ? Effect.logDebug(`no handler for event type '${event.type}': skipped`).pipe(
          Effect.annotateLogs({ topic: delivery.topic, partition: delivery.partition, offset: delivery.offset })
        )
      : route(event, delivery)
  }
}

/**
 * The headers every implementation delivers with a published event: the envelope's routing
 * facts, so that tools and header-based routing can read them without parsing the value.
 *
 * @category constants
 * @since 0.2.0
 */
export const Headers = {
  eventId: "event-id",
  eventType: "event-type",
  streamType: "stream-type",
  schemaVersion: "schema-version",
  streamVersion: "stream-version",
  position: "position",
  correlationId: "correlation-id",
  causationId: "causation-id",
  occurredAt: "occurred-at",
  publishedAt: "published-at"
} as const

/**
 * The `Headers` of an event published at `publishedAt` (ISO-8601).
 *
 * @category constructors
 * @since 0.2.0
 */
export const headersOf = (event: EventEnvelope.RecordedEvent, publishedAt: string): Record<string, string> => {
  const headers: Record<string, string> = {
    [Headers.eventId]: event.eventId,
    [Headers.eventType]: event.type,
    [Headers.streamType]: event.streamType,
    [Headers.schemaVersion]: String(event.schemaVersion),
    [Headers.streamVersion]: String(event.version),
    [Headers.position]: event.position,
    [Headers.correlationId]: event.metadata.correlationId,
    [Headers.occurredAt]: event.metadata.occurredAt,
    [Headers.publishedAt]: publishedAt
  }
  if (event.metadata.causationId !== undefined) headers[Headers.causationId] = event.metadata.causationId
  return headers
}

/**
 * How one message's handling ended: handled (after `attempts` attempts), failed for good (park
 * it), or abandoned because the runner stopped during a backoff (neither park nor commit it).
 *
 * @category models
 * @since 0.2.0
 */
export type Outcome = Handling.Outcome

/**
 * Run a handler on one message with the contract's retry rules, for implementations of
 * `EventBus`: attempts are numbered in `Delivery.attempt` (1, 2, ...); failures and defects are
 * retried alike on `schedule`, whose input is the failure; once `stopped` completes no further
 * attempt is made and a backoff in progress is cut short (`Abandoned`), but the attempt in
 * progress is never interrupted; when the schedule gives up the outcome is `Failed`, with the
 * last failure's message and tag or class. Interruption is not caught.
 *
 * @category implementations
 * @since 0.2.0
 */
export const handleWithRetries = <E, R>(
  handler: Handler<E, R>,
  event: EventEnvelope.RecordedEvent,
  delivery: Omit<Delivery, "attempt">,
  schedule: Schedule.Schedule<unknown, unknown>,
  stopped: Effect.Effect<void>
): Effect.Effect<Outcome, never, R> =>
  Handling.retryUntilStopped((attempt) => handler(event, { ...delivery, attempt }), schedule, stopped).pipe(
    Effect.annotateLogs({ eventId: event.eventId, eventType: event.type })
  )
