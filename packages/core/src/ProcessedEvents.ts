/**
 * Exactly-once effects for at-least-once consumers (an inbox): a consumer runs each event's
 * effect through `once`, which records the (consumer, event id) pair together with the effect,
 * so a redelivered event is recognised and skipped.
 *
 * This is a port: `layerMemory` keeps the pairs in memory (tests, the embedded default without
 * a database); `PgProcessedEvents.layer` of @eventline/postgres records them in the same SQL
 * transaction as the effect's own SQL, so the effect's writes and the mark commit together.
 * Both pass `ProcessedEventsConformance` of @eventline/testing.
 *
 * @example
 * ```ts
 * import { type EventEnvelope, ProcessedEvents } from "@eventline/core"
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql"
 *
 * const handler = (event: EventEnvelope.RecordedEvent) =>
 *   Effect.gen(function* () {
 *     const sql = yield* SqlClient.SqlClient
 *     return yield* ProcessedEvents.once("order-projection", event.eventId,
 *       sql`INSERT INTO orders ${sql.insert({ id: event.streamId })}`)
 *   })
 * ```
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer, Semaphore } from "effect"
import type * as Errors from "./Errors.ts"

/**
 * @category services
 * @since 0.2.0
 */
export class ProcessedEvents extends Context.Service<
  ProcessedEvents,
  {
    /**
     * Run `effect` once per (`consumer`, `eventId`): record the pair and, only if it was not
     * recorded before, run `effect`. Succeeds with `true` if the effect ran, `false` if the
     * event had already been processed by this consumer.
     *
     * If `effect` fails, the pair is not recorded (its failure comes back unchanged) and a retry
     * runs the effect again. Two deliveries of the same event at the same time are serialised:
     * the second waits for the first, then skips (or runs, if the first failed).
     */
    once<A, E, R>(
      consumer: string,
      eventId: string,
      effect: Effect.Effect<A, E, R>
    ): Effect.Effect<boolean, E | Errors.InfrastructureError, R>
  }
>()("@eventline/core/ProcessedEvents") {}

/**
 * `ProcessedEvents.once` of the service in context.
 *
 * @category running
 * @since 0.2.0
 */
export const once = <A, E, R>(
  consumer: string,
  eventId: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<boolean, E | Errors.InfrastructureError, R | ProcessedEvents> =>
  ProcessedEvents.use((inbox) => inbox.once(consumer, eventId, effect))

/**
 * An inbox in memory: it lives as long as the value is referenced. The effect and the mark are
 * not atomic beyond this process (there is no transaction to join): use it where the effect's
 * own results live in memory too, or in tests.
 *
 * @category constructors
 * @since 0.2.0
 */
export const makeMemory: Effect.Effect<ProcessedEvents["Service"]> = Effect.sync(() => {
  const processed = new Set<string>()
  // one lock per pair, so that concurrent deliveries of one event are serialised
  const locks = new Map<string, Semaphore.Semaphore>()
  const lockOf = (key: string): Semaphore.Semaphore => {
    let lock = locks.get(key)
    if (lock === undefined) {
      lock = Semaphore.makeUnsafe(1)
      locks.set(key, lock)
    }
    return lock
  }
  return ProcessedEvents.of({
    once: <A, E, R>(consumer: string, eventId: string, effect: Effect.Effect<A, E, R>) => {
      const key = JSON.stringify([consumer, eventId])
      return Semaphore.withPermit(
        lockOf(key),
        Effect.suspend(() =>
          processed.has(key)
            ? Effect.succeed(false)
            : effect.pipe(Effect.andThen(Effect.sync(() => processed.add(key))), Effect.as(true))
        )
      )
    }
  })
})

/**
 * @category layers
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<ProcessedEvents> = Layer.effect(ProcessedEvents, makeMemory)
