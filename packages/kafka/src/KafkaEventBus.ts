/**
 * Core's `EventBus` contract on Apache Kafka: `publish` encodes envelopes with `EnvelopeCodec`
 * and sends them with the idempotent `KafkaProducer`, `run` is `KafkaConsumer.run` and
 * `redrive` is `DeadLetters.redrive`. Broker failures surface as core's `InfrastructureError`
 * (with the `KafkaError`'s operation and cause).
 *
 * @since 0.1.0
 */
import { Errors, EventBus, type EventEnvelope } from "@eventline/core"
import { Effect, Layer } from "effect"
import * as DeadLetters from "./DeadLetters.ts"
import * as EnvelopeCodec from "./EnvelopeCodec.ts"
import { KafkaClient, type KafkaError } from "./KafkaClient.ts"
import * as KafkaConsumer from "./KafkaConsumer.ts"
import { KafkaProducer } from "./KafkaProducer.ts"

const toInfrastructure = (error: KafkaError): Errors.InfrastructureError =>
  Errors.infrastructure(error.operation)(error.cause)

/**
 * Defaults for every `run` and `redrive` of the bus (a call's own options win).
 *
 * @category models
 * @since 0.1.0
 */
export interface KafkaEventBusOptions extends KafkaConsumer.GroupOptions {
  readonly provisionDeadLetterTopics?: boolean | undefined
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

    const publish = (topic: string, events: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
      EnvelopeCodec.encodeAll(events).pipe(
        Effect.flatMap((messages) => producer.send(topic, messages).pipe(Effect.mapError(toInfrastructure))),
        Effect.asVoid
      )

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
