/**
 * Commit wake-ups on PostgreSQL: every append NOTIFYs its channel in the same transaction, so
 * the notification arrives only once the events are committed; this layer LISTENs (on a
 * connection of its own) and republishes to in-process subscribers. The listener is
 * supervised: when its connection drops it reconnects with capped exponential backoff.
 * Notifications are hints; readers keep a polling fallback for the time the listener is down.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { CommitSignal, Position } from "@eventline/core"
import { Effect, Layer, PubSub, Schedule, Schema, Stream } from "effect"
import { PgStoreConfig } from "./PgStoreConfig.ts"

const Payload = Schema.fromJsonString(Schema.Struct({ streamType: Schema.String, position: Position.Position }))

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const client = yield* PgClient.PgClient
  const { notifyChannel } = yield* PgStoreConfig
  const pubsub = yield* Effect.acquireRelease(PubSub.sliding<CommitSignal.Committed>(1024), PubSub.shutdown)

  const listenOnce = Effect.scoped(
    Effect.gen(function* () {
      const notifications = yield* client.listen(notifyChannel)
      yield* Stream.fromQueue(notifications).pipe(
        Stream.mapEffect((notification) =>
          Schema.decodeUnknownEffect(Payload)(notification.payload).pipe(
            Effect.flatMap((committed) => PubSub.publish(pubsub, committed)),
            // a payload we did not write: not ours to act on
            Effect.catchTag("SchemaError", (error) =>
              Effect.logWarning(`ignoring a notification on ${notifyChannel}`, error.message)
            )
          )
        ),
        Stream.runDrain
      )
    })
  )
  yield* listenOnce.pipe(
    Effect.tapError((error) => Effect.logWarning("commit listener lost its connection; reconnecting", error)),
    Effect.retry(Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")])),
    Effect.forkScoped
  )
  return CommitSignal.CommitSignal.of({
    publish: () => Effect.void,
    changes: Stream.fromPubSub(pubsub)
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<CommitSignal.CommitSignal, never, PgClient.PgClient> = Layer.effect(
  CommitSignal.CommitSignal,
  make
)
