/**
 * The start of a graceful shutdown, as a signal: once it begins, readiness answers 503 and
 * long-lived responses (the SSE tail) end, so the HTTP server can drain the requests in flight
 * instead of waiting for streams that never finish. `layerTrigger` begins it when its scope
 * closes: build it after the server, so that it runs before the server stops.
 *
 * @since 0.1.0
 */
import { Context, Deferred, Effect, Layer } from "effect"

/**
 * @category services
 * @since 0.1.0
 */
export class Shutdown extends Context.Service<
  Shutdown,
  {
    readonly isDraining: Effect.Effect<boolean>
    /** Begin the shutdown (idempotent). */
    readonly begin: Effect.Effect<void>
    /** Completes when the shutdown begins. */
    readonly await: Effect.Effect<void>
  }
>()("@eventline/http/Shutdown") {}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const begun = yield* Deferred.make<void>()
  return Shutdown.of({
    isDraining: Deferred.isDone(begun),
    begin: Effect.asVoid(Deferred.succeed(begun, undefined)),
    await: Deferred.await(begun)
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Shutdown> = Layer.effect(Shutdown, make)

/**
 * Begins the shutdown when this layer's scope closes.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTrigger: Layer.Layer<never, never, Shutdown> = Layer.effectDiscard(
  Effect.gen(function* () {
    const shutdown = yield* Shutdown
    yield* Effect.addFinalizer(() =>
      Effect.andThen(Effect.logInfo("shutting down: draining requests in flight"), shutdown.begin)
    )
  })
)
