/**
 * Core's `EventBus` contract on Apache Kafka: `publish` encodes envelopes with `EnvelopeCodec`
 * and sends them with the idempotent `KafkaProducer` in requests of at most `maxBatchSize`
 * messages, one in flight at a time, the next encoded while the previous is in flight (the relay
 * hands over a whole page; the broker's acknowledgement, not the encoder, paces it). Every event
 * is checked before the first request, so an invalid event publishes nothing. A failed request
 * stops the publish: no later request is sent, so every key keeps its order (earlier requests of
 * a longer publish are out, as with any broker failure half-way: publishing is at least once). `run` is `KafkaConsumer.run` and
 * `redrive` is `DeadLetters.redrive`. Broker failures surface as core's `InfrastructureError`
 * (with the `KafkaError`'s operation and cause).
 *
 * @since 0.1.0
 */
import { Errors, EventBus, type EventEnvelope } from "@eventline/core"
import { DateTime, Effect, Exit, Fiber, Layer } from "effect"
import * as DeadLetters from "./DeadLetters.ts"
import * as EnvelopeCodec from "./EnvelopeCodec.ts"
import { KafkaClient, type KafkaError } from "./KafkaClient.ts"
import * as KafkaConsumer from "./KafkaConsumer.ts"
import { KafkaProducer } from "./KafkaProducer.ts"

const toInfrastructure = (error: KafkaError): Errors.InfrastructureError =>
  Errors.infrastructure(error.operation)(error.cause)

/**
 * Defaults for every `run` and `redrive` of the bus (a call's own options win), and the size of
 * `publish`'s requests.
 *
 * @category models
 * @since 0.1.0
 */
export interface KafkaEventBusOptions extends KafkaConsumer.GroupOptions {
  readonly provisionDeadLetterTopics?: boolean | undefined
  /**
   * Messages per produce request when publishing; a longer publish is sent as several requests,
   * in order. Default: 500.
   *
   * @since 0.3.0
   */
  readonly maxBatchSize?: number | undefined
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  defaults: KafkaEventBusOptions = {}
): Effect.Effect<EventBus.EventBus["Service"], never, KafkaClient | KafkaProducer> =>
  Effect.gen(function* () {
    const client = yield* KafkaClient
    const producer = yield* KafkaProducer
    const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(Effect.provideService(KafkaClient, client), Effect.provideService(KafkaProducer, producer))

    const maxBatchSize = Math.max(1, defaults.maxBatchSize ?? 500)
    const publish = (topic: string, events: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
      Effect.gen(function* () {
        const publishedAt = yield* DateTime.now
        // bad input changes nothing: no request goes out before every event is known valid
        yield* EnvelopeCodec.validateAll(events)
        let inFlight: Fiber.Fiber<unknown, KafkaError> | undefined
        for (let start = 0; start < events.length; start += maxBatchSize) {
          // encoded while the previous request is in flight
          const encoded = yield* Effect.exit(
            EnvelopeCodec.encodeAll(events.slice(start, start + maxBatchSize), { publishedAt, validated: true })
          )
          // a request goes out only once every request before it is acknowledged
          if (inFlight !== undefined) yield* Fiber.join(inFlight)
          if (Exit.isFailure(encoded)) return yield* encoded
          inFlight = yield* Effect.forkChild(producer.send(topic, encoded.value), { startImmediately: true })
          // let the client write the request out before the next one is encoded
          if (start + maxBatchSize < events.length) yield* Effect.yieldNow
        }
        if (inFlight !== undefined) yield* Fiber.join(inFlight)
      }).pipe(Effect.catchTag("KafkaError", (error) => Effect.fail(toInfrastructure(error))))

    const run = <E, R>(
      topics: ReadonlyArray<string>,
      groupId: string,
      handler: EventBus.Handler<E, R>,
      options?: EventBus.RunOptions
    ) =>
      provide(KafkaConsumer.run(topics, groupId, handler, { ...defaults, ...options })).pipe(
        Effect.map((runner) => ({ ready: runner.ready, done: Effect.mapError(runner.done, toInfrastructure) })),
        Effect.mapError(toInfrastructure)
      )

    const redrive = (deadLetterTopic: string, options?: EventBus.RedriveOptions) =>
      provide(DeadLetters.redrive(deadLetterTopic, { ...defaults, ...options })).pipe(Effect.mapError(toInfrastructure))

    return EventBus.EventBus.of({ publish, run, redrive })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  defaults: KafkaEventBusOptions = {}
): Layer.Layer<EventBus.EventBus, never, KafkaClient | KafkaProducer> => Layer.effect(EventBus.EventBus, make(defaults))
