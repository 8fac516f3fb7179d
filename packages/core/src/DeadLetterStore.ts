/**
 * Dead letters of subscriptions: events whose handler kept failing, parked (with the events of
 * the same stream that came after them) until they are redriven or skipped. Nothing is dropped
 * silently: each row says why, after how many attempts, and since when.
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { InfrastructureError } from "./Errors.ts"
import type { RecordedEvent } from "./EventEnvelope.ts"
import * as Position from "./Position.ts"

/**
 * @category models
 * @since 0.2.0
 */
export type Status = "parked" | "redriven" | "skipped"

/**
 * @category models
 * @since 0.2.0
 */
export interface DeadLetter {
  readonly id: string
  readonly subscription: string
  readonly position: Position.Position
  readonly streamId: string
  readonly eventId: string
  readonly error: string
  readonly attempts: number
  readonly firstFailedAt: Date
  readonly lastFailedAt: Date
  readonly status: Status
}

/**
 * Why an event is parked.
 *
 * @category models
 * @since 0.2.0
 */
export interface Failure {
  readonly error: string
  readonly attempts: number
  readonly firstFailedAt: Date
  readonly lastFailedAt: Date
}

/**
 * @category services
 * @since 0.2.0
 */
export class DeadLetterStore extends Context.Service<
  DeadLetterStore,
  {
    /**
     * Park an event. Parking it again (it failed again after a redrive) sets it parked, keeps
     * the latest error and adds the attempts.
     */
    readonly park: (
      subscription: string,
      event: RecordedEvent,
      failure: Failure
    ) => Effect.Effect<void, InfrastructureError>
    /** A subscription's dead letters in log order, all or those of one status. */
    readonly list: (
      subscription: string,
      status?: Status | undefined
    ) => Effect.Effect<ReadonlyArray<DeadLetter>, InfrastructureError>
    readonly setStatus: (
      subscription: string,
      eventId: string,
      status: Status
    ) => Effect.Effect<void, InfrastructureError>
    /** Forget a subscription's dead letters (a rebuild). */
    readonly clear: (subscription: string) => Effect.Effect<void, InfrastructureError>
  }
>()("@eventline/core/DeadLetterStore") {}

/**
 * An in-memory store (one process; nothing survives it).
 *
 * @category constructors
 * @since 0.2.0
 */
export const makeMemory: Effect.Effect<DeadLetterStore["Service"]> = Effect.gen(function* () {
  const letters = yield* Ref.make<ReadonlyArray<DeadLetter>>([])
  const ids = yield* Ref.make(0)
  const key = (subscription: string, eventId: string) => (letter: DeadLetter) =>
    letter.subscription === subscription && letter.eventId === eventId.toLowerCase()
  return DeadLetterStore.of({
    park: (subscription, event, failure) =>
      Effect.flatMap(
        Ref.updateAndGet(ids, (n) => n + 1),
        (id) =>
          Ref.update(letters, (all) => {
            const existing = all.find(key(subscription, event.eventId))
            if (existing !== undefined) {
              return all.map((letter) =>
                letter === existing
                  ? {
                      ...letter,
                      status: "parked" as const,
                      error: failure.error,
                      attempts: letter.attempts + failure.attempts,
                      lastFailedAt: failure.lastFailedAt
                    }
                  : letter
              )
            }
            const parked: DeadLetter = {
              id: String(id),
              subscription,
              position: event.position,
              streamId: event.streamId,
              eventId: event.eventId.toLowerCase(),
              status: "parked",
              ...failure
            }
            return [...all, parked].sort((a, b) => Position.compare(a.position, b.position))
          })
      ),
    list: (subscription, status) =>
      Effect.map(Ref.get(letters), (all) =>
        all.filter(
          (letter) => letter.subscription === subscription && (status === undefined || letter.status === status)
        )
      ),
    setStatus: (subscription, eventId, status) =>
      Ref.update(letters, (all) =>
        all.map((letter) => (key(subscription, eventId)(letter) ? { ...letter, status } : letter))
      ),
    clear: (subscription) => Ref.update(letters, (all) => all.filter((letter) => letter.subscription !== subscription))
  })
})

/**
 * @category layers
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<DeadLetterStore> = Layer.effect(DeadLetterStore, makeMemory)
