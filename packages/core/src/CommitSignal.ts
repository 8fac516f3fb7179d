/**
 * Wake-ups after a commit: subscribers to the global log sleep until something was committed
 * instead of polling in a busy loop. In one process (the in-memory store, PGlite) the store
 * publishes after each append; on PostgreSQL the append's NOTIFY arrives through LISTEN
 * (`@eventline/postgres/PgCommitSignal`). A signal is only a hint: readers still poll now and
 * then, so a lost signal delays an event, never loses it.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, PubSub, Stream } from "effect"
import type { Position } from "./Position.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Committed {
  readonly streamType: string
  readonly position: Position
}

/**
 * @category services
 * @since 0.1.0
 */
export class CommitSignal extends Context.Service<
  CommitSignal,
  {
    /** Announce a commit (stores call it after an append; a no-op where the database announces). */
    readonly publish: (committed: Committed) => Effect.Effect<void>
    /** Every commit announced from now on. */
    readonly changes: Stream.Stream<Committed>
  }
>()("@eventline/core/CommitSignal") {}

/**
 * An in-process signal. A slow subscriber never holds up a writer: only the latest 1024
 * announcements are kept for it (older ones are hints it no longer needs).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeInProcess = Effect.gen(function* () {
  const pubsub = yield* Effect.acquireRelease(PubSub.sliding<Committed>(1024), PubSub.shutdown)
  return CommitSignal.of({
    publish: (committed) => Effect.asVoid(PubSub.publish(pubsub, committed)),
    changes: Stream.fromPubSub(pubsub)
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layerInProcess: Layer.Layer<CommitSignal> = Layer.effect(CommitSignal, makeInProcess)
