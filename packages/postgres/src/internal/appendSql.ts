/**
 * The SQL of an append. The first statement takes the stream's advisory lock, then a
 * data-modifying CTE bumps the stream's row only if the expectation holds
 * (`UPDATE ... WHERE version = $expected`, `INSERT ... ON CONFLICT DO NOTHING`), inserts every
 * event in one multi-row INSERT numbered from the bumped version, and NOTIFYs. Row locks
 * serialise writers to one stream, so two appends with the same expectation can never both
 * pass; the loser sees zero rows. Appends larger than one statement's parameters continue with
 * plain INSERTs in the same transaction.
 */
import type { EventStore, ExpectedVersion } from "@eventline/core"
import { Effect, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import type { Fragment } from "effect/sql/Statement"

/**
 * Writers to one stream queue on an advisory lock before they write anything. A transaction gets
 * its id (xid) at its first write, so the waiter's xid is then always larger than the holder's,
 * and the global log, ordered by xid, keeps every stream in version order. Waiting on the row
 * lock alone does not: the waiter may take its xid first and then write the later version.
 * (The class id keeps these locks apart from other users of advisory locks.)
 */
const streamLockClass = 0x45564c31 // "EVL1"

/** Rows per INSERT statement: PostgreSQL allows 65535 parameters, an event takes 6. */
export const rowsPerStatement = 4000

/** What one inserted event row reports back. */
export const InsertedRow = Schema.Struct({
  global_position: Schema.BigInt,
  transaction_id: Schema.String,
  event_id: Schema.String,
  version: Schema.Int
})
export type InsertedRow = typeof InsertedRow.Type

/** One statement of an append: which events (`offset` on, `chunk` of them) go to which stream. */
export interface AppendRequest {
  readonly streamId: string
  readonly streamType: string
  readonly expected: ExpectedVersion.ExpectedVersion
  /** How many events the whole append writes (the stream's version moves by this much). */
  readonly total: number
  readonly events: ReadonlyArray<EventStore.IdentifiedEvent>
  readonly serialized: ReadonlyArray<EventStore.SerializedEvent>
  readonly offset: number
  readonly chunk: number
  /** The version of the append's first event; for the statements after the first. */
  readonly firstVersion: number
}

// `validateAppend` checked every event before the append got here: the request passes as it is
// (re-validating each event's JSON would double the cost of an append)
const AppendRequest = Schema.declare(
  (input: unknown): input is AppendRequest => typeof input === "object" && input !== null && "events" in input
)

/** The append statements over the tables of `schema`, announcing on `notifyChannel` when `notify`. */
export const make = Effect.fnUntraced(function* (options: {
  readonly schema: string
  readonly notifyChannel: string
  readonly notify: boolean
}) {
  const sql = yield* SqlClient.SqlClient
  const streamsTable = sql(`${options.schema}.streams`)
  const eventsTable = sql(`${options.schema}.events`)
  const joinValues = sql.join(", ", false)

  /** The statement fragment that moves the stream's version by `count` if the expectation holds. */
  const bumpStream = (
    streamId: string,
    streamType: string,
    expected: ExpectedVersion.ExpectedVersion,
    count: number
  ): Fragment => {
    switch (expected._tag) {
      case "Any":
        return sql`INSERT INTO ${streamsTable} AS s (stream_id, stream_type, version)
          SELECT ${streamId}, ${streamType}, ${count}::int FROM stream_lock
          ON CONFLICT (stream_id) DO UPDATE SET version = s.version + EXCLUDED.version, updated_at = now()
          WHERE s.stream_type = EXCLUDED.stream_type
          RETURNING version`
      case "NoStream":
        return bumpNewStream(streamId, streamType, count)
      case "StreamExists":
        return sql`UPDATE ${streamsTable} AS s SET version = s.version + ${count}::int, updated_at = now()
          WHERE s.stream_id = ${streamId} AND s.stream_type = ${streamType} AND EXISTS (SELECT FROM stream_lock)
          RETURNING version`
      case "Exact":
        return expected.version === 0
          ? bumpNewStream(streamId, streamType, count)
          : sql`UPDATE ${streamsTable} AS s SET version = s.version + ${count}::int, updated_at = now()
          WHERE s.stream_id = ${streamId} AND s.stream_type = ${streamType} AND s.version = ${expected.version}::int
            AND EXISTS (SELECT FROM stream_lock)
          RETURNING version`
    }
  }

  const bumpNewStream = (streamId: string, streamType: string, count: number): Fragment =>
    sql`INSERT INTO ${streamsTable} (stream_id, stream_type, version)
      SELECT ${streamId}, ${streamType}, ${count}::int FROM stream_lock
      ON CONFLICT (stream_id) DO NOTHING
      RETURNING version`

  const valuesOf = ({ chunk, events, offset, serialized }: AppendRequest) =>
    joinValues(
      events.slice(offset, offset + chunk).map(
        (event, index) =>
          sql`(${offset + index + 1}::int, ${event.eventId}::uuid, ${event.type}::text, ${event.schemaVersion}::int,
            ${serialized[offset + index]?.data}::jsonb, ${serialized[offset + index]?.metadata}::jsonb)`
      )
    )

  /**
   * One statement: bump the stream, insert the first chunk of events, notify. No rows when the
   * expectation did not hold (or the stream has another type).
   */
  const appendFirst = SqlSchema.findAll({
    Request: AppendRequest,
    Result: InsertedRow,
    execute: (request) => {
      const { streamId, streamType, total } = request
      return sql`WITH stream_lock AS (SELECT pg_advisory_xact_lock(${streamLockClass}::int, hashtext(${streamId}))),
    bump AS (${bumpStream(streamId, streamType, request.expected, total)}),
    inserted AS (
      INSERT INTO ${eventsTable} (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
      SELECT ${streamId}, ${streamType}, bump.version - ${total}::int + v.ordinal,
        v.event_id, v.event_type, v.schema_version, v.data, v.metadata
      FROM bump CROSS JOIN (VALUES ${valuesOf(request)}) AS v(ordinal, event_id, event_type, schema_version, data, metadata)
      RETURNING global_position, transaction_id, event_id, version
    ),
    notified AS (
      SELECT pg_notify(${options.notifyChannel}, json_build_object(
        'streamType', ${streamType}::text,
        'position', lpad(pg_current_xact_id()::text, 20, '0') || '-' || lpad(max(global_position)::text, 20, '0')
      )::text) FROM inserted HAVING count(*) > 0 AND ${options.notify}
    )
    SELECT i.global_position, i.transaction_id::text AS transaction_id, i.event_id::text AS event_id, i.version
    FROM inserted i WHERE (SELECT count(*) FROM notified) >= 0 ORDER BY i.version`
    }
  })

  /** A later chunk of a large append, in the same transaction as the first. */
  const appendMore = SqlSchema.findAll({
    Request: AppendRequest,
    Result: InsertedRow,
    execute: (request) =>
      sql`INSERT INTO ${eventsTable} (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
    SELECT ${request.streamId}, ${request.streamType}, ${request.firstVersion - 1}::int + v.ordinal,
      v.event_id, v.event_type, v.schema_version, v.data, v.metadata
    FROM (VALUES ${valuesOf(request)}) AS v(ordinal, event_id, event_type, schema_version, data, metadata)
    RETURNING global_position, transaction_id::text AS transaction_id, event_id::text AS event_id, version`
  })

  return { appendFirst, appendMore } as const
})
