import { Errors, type EventEnvelope, Position } from "@eventline/core"
import { Effect, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { Fragment } from "effect/sql/Statement"

/** Another runner holds (or took over) the subscription: stop, and stand by. */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", { subscription: Schema.String }) {}

const infrastructure = (operation: string) => (cause: SqlError.SqlError | Schema.SchemaError) =>
  new Errors.InfrastructureError({ operation, cause })

const PositionRows = Schema.Array(Schema.Struct({ transaction_id: Schema.String, global_position: Schema.BigInt }))
const LagRows = Schema.Array(Schema.Struct({ events: Schema.BigInt, oldest: Schema.NullOr(Schema.Date) }))
const DeadLetterRows = Schema.Array(
  Schema.Struct({
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
)

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
  readonly status: "parked" | "redriven" | "skipped"
}

export interface Filter {
  readonly streamTypes?: ReadonlyArray<string> | undefined
  readonly eventTypes?: ReadonlyArray<string> | undefined
}

/** The SQL of subscriptions: leases and fenced checkpoints, dead letters, heads and lag. */
export const make = (schema: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const checkpoints = sql(`${schema}.checkpoints`)
    const deadLetters = sql(`${schema}.dead_letters`)
    const events = sql(`${schema}.events`)

    const toPosition = (row: { readonly transaction_id: string; readonly global_position: bigint }) =>
      Position.make(BigInt(row.transaction_id), row.global_position)

    const filterOf = (filter: Filter): Fragment => {
      const clauses: Array<Fragment> = []
      if (filter.streamTypes !== undefined) {
        clauses.push(filter.streamTypes.length === 0 ? sql`false` : sql`e.stream_type IN ${sql.in(filter.streamTypes)}`)
      }
      if (filter.eventTypes !== undefined) {
        clauses.push(filter.eventTypes.length === 0 ? sql`false` : sql`e.event_type IN ${sql.in(filter.eventTypes)}`)
      }
      return clauses.length === 0 ? sql`true` : sql.and(clauses)
    }

    /** Take the lease if it is free, ours or expired; the checkpoint it starts from. */
    const acquire = (subscription: string, owner: string, ttlMillis: number, initial: Position.Position) =>
      sql`INSERT INTO ${checkpoints} AS c (subscription_id, transaction_id, global_position, owner, lease_expires_at)
        VALUES (${subscription}, ${Position.transactionId(initial).toString()}::xid8,
          ${Position.globalPosition(initial).toString()}::bigint, ${owner},
          now() + ${ttlMillis}::int * interval '1 millisecond')
        ON CONFLICT (subscription_id) DO UPDATE SET owner = EXCLUDED.owner, lease_expires_at = EXCLUDED.lease_expires_at
        WHERE c.owner IS NULL OR c.owner = EXCLUDED.owner OR c.lease_expires_at < now()
        RETURNING transaction_id::text AS transaction_id, global_position`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(PositionRows)),
        Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), toPosition)),
        Effect.mapError(infrastructure("subscription.acquire"))
      )

    const renew = (subscription: string, owner: string, ttlMillis: number) =>
      sql`UPDATE ${checkpoints} SET lease_expires_at = now() + ${ttlMillis}::int * interval '1 millisecond'
        WHERE subscription_id = ${subscription} AND owner = ${owner} RETURNING subscription_id`.pipe(
        Effect.mapError(infrastructure("subscription.renew")),
        Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(new LeaseLost({ subscription })) : Effect.void))
      )

    const release = (subscription: string, owner: string) =>
      sql`UPDATE ${checkpoints} SET owner = NULL, lease_expires_at = NULL
        WHERE subscription_id = ${subscription} AND owner = ${owner}`.pipe(
        Effect.asVoid,
        Effect.mapError(infrastructure("subscription.release"))
      )

    /** Move the checkpoint forward, only while we hold the lease (the fence against a stale runner). */
    const saveCheckpoint = (subscription: string, owner: string, position: Position.Position) =>
      sql`UPDATE ${checkpoints} SET transaction_id = ${Position.transactionId(position).toString()}::xid8,
          global_position = ${Position.globalPosition(position).toString()}::bigint, updated_at = now()
        WHERE subscription_id = ${subscription} AND owner = ${owner}
        RETURNING subscription_id`.pipe(
        Effect.mapError(infrastructure("subscription.checkpoint")),
        Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(new LeaseLost({ subscription })) : Effect.void))
      )

    const checkpoint = (subscription: string) =>
      sql`SELECT transaction_id::text AS transaction_id, global_position FROM ${checkpoints}
        WHERE subscription_id = ${subscription}`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(PositionRows)),
        Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), toPosition)),
        Effect.mapError(infrastructure("subscription.checkpoint"))
      )

    /** The last event a gap-safe reader can see now (for "start from the end" and catching up). */
    const head = (filter: Filter) =>
      sql`SELECT e.transaction_id::text AS transaction_id, e.global_position FROM ${events} e
        WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AND ${filterOf(filter)}
        ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(PositionRows)),
        Effect.map((rows) => (rows[0] === undefined ? Position.start : toPosition(rows[0]))),
        Effect.mapError(infrastructure("subscription.head"))
      )

    /**
     * The last committed event, visible to a gap-safe reader or not yet (an older transaction is
     * still open): what "everything committed so far" means for read-your-writes and lag. Never a
     * start position: starting there would skip what the open transaction commits later.
     */
    const lastCommitted = (filter: Filter) =>
      sql`SELECT e.transaction_id::text AS transaction_id, e.global_position FROM ${events} e
        WHERE ${filterOf(filter)}
        ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(PositionRows)),
        Effect.map((rows) => (rows[0] === undefined ? Position.start : toPosition(rows[0]))),
        Effect.mapError(infrastructure("subscription.lastCommitted"))
      )

    /** Committed events after the checkpoint, including those still waiting below the horizon. */
    const lag = (after: Position.Position, filter: Filter) =>
      sql`SELECT count(*) AS events, min(e.created_at) AS oldest FROM ${events} e
        WHERE (e.transaction_id, e.global_position) >
            (${Position.transactionId(after).toString()}::xid8, ${Position.globalPosition(after).toString()}::bigint)
          AND ${filterOf(filter)}`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(LagRows)),
        Effect.map((rows) => ({ events: Number(rows[0]?.events ?? 0n), oldest: rows[0]?.oldest ?? null })),
        Effect.mapError(infrastructure("subscription.lag"))
      )

    const park = (
      subscription: string,
      event: EventEnvelope.RecordedEvent,
      failure: {
        readonly error: string
        readonly attempts: number
        readonly firstFailedAt: Date
        readonly lastFailedAt: Date
      }
    ) =>
      sql`INSERT INTO ${deadLetters} (subscription_id, transaction_id, global_position, stream_id, event_id, error,
          attempts, first_failed_at, last_failed_at)
        VALUES (${subscription}, ${Position.transactionId(event.position).toString()}::xid8,
          ${Position.globalPosition(event.position).toString()}::bigint, ${event.streamId}, ${event.eventId}::uuid,
          ${failure.error}, ${failure.attempts}::int, ${failure.firstFailedAt}, ${failure.lastFailedAt})
        ON CONFLICT (subscription_id, event_id) DO UPDATE SET status = 'parked', error = EXCLUDED.error,
          attempts = ${deadLetters}.attempts + EXCLUDED.attempts, last_failed_at = EXCLUDED.last_failed_at`.pipe(
        Effect.asVoid,
        Effect.mapError(infrastructure("subscription.park"))
      )

    const toDeadLetter = (row: Schema.Schema.Type<typeof DeadLetterRows>[number]): DeadLetter => ({
      id: row.id.toString(),
      subscription: row.subscription_id,
      position: toPosition(row),
      streamId: row.stream_id,
      eventId: row.event_id,
      error: row.error,
      attempts: row.attempts,
      firstFailedAt: row.first_failed_at,
      lastFailedAt: row.last_failed_at,
      status: row.status
    })

    const listDeadLetters = (subscription: string, status?: DeadLetter["status"]) =>
      sql`SELECT id, subscription_id, transaction_id::text AS transaction_id, global_position, stream_id,
          event_id::text AS event_id, error, attempts, first_failed_at, last_failed_at, status
        FROM ${deadLetters} WHERE subscription_id = ${subscription}
          AND ${status === undefined ? sql`true` : sql`status = ${status}`}
        ORDER BY transaction_id, global_position`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(DeadLetterRows)),
        Effect.map((rows) => rows.map(toDeadLetter)),
        Effect.mapError(infrastructure("subscription.deadLetters"))
      )

    const setDeadLetterStatus = (subscription: string, eventId: string, status: DeadLetter["status"]) =>
      sql`UPDATE ${deadLetters} SET status = ${status}
        WHERE subscription_id = ${subscription} AND event_id = ${eventId}::uuid`.pipe(
        Effect.asVoid,
        Effect.mapError(infrastructure("subscription.deadLetters"))
      )

    const resetCheckpoint = (subscription: string, owner: string) =>
      sql`UPDATE ${checkpoints} SET transaction_id = '0'::xid8, global_position = 0, updated_at = now()
        WHERE subscription_id = ${subscription} AND owner = ${owner} RETURNING subscription_id`.pipe(
        Effect.mapError(infrastructure("subscription.reset")),
        Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(new LeaseLost({ subscription })) : Effect.void))
      )

    const clearDeadLetters = (subscription: string) =>
      sql`DELETE FROM ${deadLetters} WHERE subscription_id = ${subscription}`.pipe(
        Effect.asVoid,
        Effect.mapError(infrastructure("subscription.reset"))
      )

    return {
      sql,
      acquire,
      renew,
      release,
      saveCheckpoint,
      checkpoint,
      head,
      lastCommitted,
      lag,
      park,
      listDeadLetters,
      setDeadLetterStatus,
      resetCheckpoint,
      clearDeadLetters
    } as const
  })
