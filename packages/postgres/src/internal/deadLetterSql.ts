/** The SQL of subscriptions' dead letters. */
import { DeadLetterStore, Errors, Position } from "@eventline/core"
import { Effect, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { retryOnConnectionLoss } from "./transient.ts"

const DeadLetterRow = Schema.Struct({
  id: Schema.BigInt,
  subscription_id: Schema.String,
  transaction_id: Schema.String,
  global_position: Schema.BigInt,
  stream_id: Schema.String,
  event_id: Schema.String,
  error: Schema.String,
  attempts: Schema.Int,
  first_failed_at: Schema.Date,
  last_failed_at: Schema.Date,
  status: Schema.Literals(["parked", "redriven", "skipped"])
})

const toDeadLetter = (row: typeof DeadLetterRow.Type): DeadLetterStore.DeadLetter => ({
  id: row.id.toString(),
  subscription: row.subscription_id,
  position: Position.make(BigInt(row.transaction_id), row.global_position),
  streamId: row.stream_id,
  eventId: row.event_id,
  error: row.error,
  attempts: row.attempts,
  firstFailedAt: row.first_failed_at,
  lastFailedAt: row.last_failed_at,
  status: row.status
})

/** @internal */
export const make = (schema: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const deadLetters = sql(`${schema}.dead_letters`)
    // all but `park` (it adds up attempts) are safe to run again after a lost connection
    const retry = retryOnConnectionLoss(sql)

    const list = SqlSchema.findAll({
      Request: Schema.Struct({
        subscription: Schema.String,
        status: Schema.UndefinedOr(Schema.Literals(["parked", "redriven", "skipped"]))
      }),
      Result: DeadLetterRow,
      execute: ({ status, subscription }) =>
        sql`SELECT id, subscription_id, transaction_id::text AS transaction_id, global_position, stream_id,
            event_id::text AS event_id, error, attempts, first_failed_at, last_failed_at, status
          FROM ${deadLetters} AS d WHERE subscription_id = ${subscription}
            AND ${status === undefined ? sql`true` : sql`status = ${status}`}
          ORDER BY d.transaction_id, d.global_position` // qualified: the bare name is the text alias above
    })

    return DeadLetterStore.DeadLetterStore.of({
      park: (subscription, event, failure) =>
        sql`INSERT INTO ${deadLetters} (subscription_id, transaction_id, global_position, stream_id, event_id, error,
            attempts, first_failed_at, last_failed_at)
          VALUES (${subscription}, ${Position.transactionId(event.position).toString()}::xid8,
            ${Position.globalPosition(event.position).toString()}::bigint, ${event.streamId}, ${event.eventId}::uuid,
            ${failure.error}, ${failure.attempts}::int, ${failure.firstFailedAt}, ${failure.lastFailedAt})
          ON CONFLICT (subscription_id, event_id) DO UPDATE SET status = 'parked', error = EXCLUDED.error,
            attempts = ${deadLetters}.attempts + EXCLUDED.attempts, last_failed_at = EXCLUDED.last_failed_at`.pipe(
          Effect.asVoid,
          Effect.mapError(Errors.infrastructure("subscription.park"))
        ),
      list: (subscription, status) =>
        list({ subscription, status }).pipe(
          retry,
          Effect.map((rows) => rows.map(toDeadLetter)),
          Effect.mapError(Errors.infrastructure("subscription.deadLetters"))
        ),
      setStatus: (subscription, eventId, status) =>
        sql`UPDATE ${deadLetters} SET status = ${status}
          WHERE subscription_id = ${subscription} AND event_id = ${eventId}::uuid`.pipe(
          retry,
          Effect.asVoid,
          Effect.mapError(Errors.infrastructure("subscription.deadLetters"))
        ),
      clear: (subscription) =>
        sql`DELETE FROM ${deadLetters} WHERE subscription_id = ${subscription}`.pipe(
          retry,
          Effect.asVoid,
          Effect.mapError(Errors.infrastructure("subscription.reset"))
        )
    })
  })
