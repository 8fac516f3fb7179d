/**
 * Commit wake-ups on PostgreSQL: appends NOTIFY their channel once the events are committed
 * (see `PgStoreConfig.notifyMode`); this layer LISTENs and republishes to in-process
 * subscribers. The listener opens a connection of its own, outside the client's pool
 * (`PgClient.listen` would reserve a pooled connection for as long as it listens, which leaves
 * a pool of one with nothing for the appends). The listener is supervised: when its connection
 * drops (a terminated backend, a restart) it reconnects at once, then with capped exponential
 * backoff while connecting fails; each new session starts from the first delay. NOTIFYs sent
 * while no session listened are lost, so every (re)connect wakes every reader (one announcement
 * per stream type in the log): a reader never waits for its poll after a listener loss.
 *
 * @since 0.1.0
 */
import { PgClient, PgConnection } from "@effect/sql-pg"
import { CommitSignal, Position } from "@eventline/core"
import { Effect, Layer, Option, PubSub, Schedule, Schema, Stream } from "effect"
import { retryOnConnectionLoss } from "./internal/transient.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/** Between failed connects; a session that was up restarts from the first delay. */
const reconnectSchedule = Schedule.min([Schedule.exponential("50 millis"), Schedule.spaced("2 seconds")])

const decodePosition = Schema.decodeUnknownOption(Position.Position)

const Payload = Schema.fromJsonString(Schema.Struct({ streamType: Schema.String, position: Position.Position }))

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const client = yield* PgClient.PgClient
  const config = yield* PgStoreConfig
  const { notifyChannel } = config
  const pubsub = yield* Effect.acquireRelease(PubSub.sliding<CommitSignal.Committed>(1024), PubSub.shutdown)

  const schema = `"${config.schema.replaceAll('"', '""')}"`
  // the stream types in the log, one index probe each (a loose scan of events_type_log_order)
  const streamTypesText = `WITH RECURSIVE t(stream_type) AS (
      (SELECT stream_type FROM ${schema}.events ORDER BY stream_type LIMIT 1)
      UNION ALL
      SELECT (SELECT e.stream_type FROM ${schema}.events e WHERE e.stream_type > t.stream_type
        ORDER BY e.stream_type LIMIT 1) FROM t WHERE t.stream_type IS NOT NULL
    ) SELECT stream_type FROM t WHERE stream_type IS NOT NULL`.replace(/\s+/g, " ")
  const lastPositionText = `SELECT lpad(transaction_id::text, 20, '0') || '-' || lpad(global_position::text, 20, '0')
    FROM ${schema}.events ORDER BY transaction_id DESC, global_position DESC LIMIT 1`.replace(/\s+/g, " ")

  /**
   * NOTIFYs sent while no session listened are lost: wake every reader (one announcement per
   * stream type, readers filter by type) so that none waits for its poll. Positions are hints.
   */
  const wakeEveryone = Effect.gen(function* () {
    const rows = yield* client.unsafe(streamTypesText).values
    const head = yield* client.unsafe(lastPositionText).values
    const position = Option.getOrElse(decodePosition(head[0]?.[0]), () => Position.start)
    for (const [streamType] of rows) {
      if (typeof streamType === "string") yield* PubSub.publish(pubsub, { streamType, position })
    }
  }).pipe(
    retryOnConnectionLoss(client),
    Effect.catchCause((cause) => Effect.logWarning("could not wake readers after the listener connected", cause))
  )

  /** One listening session: connects, wakes everyone, relays until the connection is lost. */
  const session = Effect.scoped(
    Effect.gen(function* () {
      // a session of its own, with the client's settings, closed with this scope
      const connection = yield* PgConnection.make(client.config)
      const notifications = yield* connection.listen(notifyChannel)
      yield* wakeEveryone
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
        Stream.runDrain,
        // it was up: reconnect at once, with a fresh backoff (the retry below restarts with it)
        Effect.catch((error) => Effect.logWarning("commit listener lost its connection; reconnecting", error))
      )
    })
  )
  yield* session.pipe(
    Effect.tapError((error) => Effect.logWarning("commit listener cannot connect; retrying", error)),
    Effect.retry(reconnectSchedule),
    Effect.forever,
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
