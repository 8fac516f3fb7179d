/**
 * Commit wake-ups on PostgreSQL: appends NOTIFY their channel once the events are committed
 * (see `PgStoreConfig.notifyMode`); this layer LISTENs and republishes to in-process
 * subscribers. The listener opens a connection of its own, outside the client's pool
 * (`PgClient.listen` would reserve a pooled connection for as long as it listens, which leaves
 * a pool of one with nothing for the appends). The listener is supervised: when its connection
 * drops it reconnects with capped exponential backoff. Notifications are hints; readers keep a
 * polling fallback for the time the listener is down.
 *
 * @since 0.1.0
 */
import { PgClient, PgConnection } from "@effect/sql-pg"
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
      // a session of its own, with the client's settings, closed with this scope
      const connection = yield* PgConnection.make(client.config)
      const notifications = yield* connection.listen(notifyChannel)
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
