/**
 * The SQL that reads the event store: a stream's pages, the global log in gap-safe order, single
 * events, a stream's version, and the heads and backlog of the log.
 *
 * The global log is read in (transaction_id, global_position) order, only below a horizon: an
 * event whose transaction commits late can never be skipped by a reader that already moved past
 * it. `transaction_id` is the append's log-order label (appendSql.ts): at least its writer's xid,
 * and at least the newest transaction completed once the writer held the store's append lock.
 *
 * The horizon is computed in the reading statement itself, from its snapshot S (taken when the
 * statement starts) and one read of pg_locks L (during execution, so after S):
 *   least(xmax(S), min { x in xip(S) : x holds the append lock in L, or x no longer runs in L })
 * Every row S does not see but that commits later then sorts after every row the statement returns:
 * - its writer had no xid at S, or one >= xmax(S): its label is >= xmax(S);
 * - its writer was running at S and held the lock in L: the horizon is <= its xid <= its label;
 * - its writer was running at S and had ended by L: the horizon is <= its xid (it may have appended);
 * - its writer was running at S and took the lock after L: its label is >= xmax(S) - 1 (appendSql.ts's
 *   clock) and, when equal, its rows' global positions were drawn after S, above every row S sees.
 * A transaction that runs in L without the lock (anything that never appends to this store, in
 * this database or another) does not bound the horizon. The append lock's holders are listed
 * with their transaction's lock (`transactionid`) by virtual transaction, from one read of pg_locks.
 * A page read looks at pg_locks only when some row after its cursor is below xmax(S) (a reader at
 * the head skips it), and only when S has transactions in progress.
 */
import { Errors, type EventEnvelope, type EventStore, Position } from "@eventline/core"
import { Effect, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import type { Fragment } from "effect/sql/Statement"
import { appendLock } from "./appendSql.ts"
import { retryOnConnectionLoss } from "./transient.ts"

/** An event row as the reads select it (see `eventColumns`). */
export const EventRow = Schema.Struct({
  global_position: Schema.BigInt,
  transaction_id: Schema.String,
  stream_id: Schema.String,
  stream_type: Schema.String,
  version: Schema.Int,
  event_id: Schema.String,
  event_type: Schema.String,
  schema_version: Schema.Int,
  data: Schema.Json,
  // rows were validated when they were appended; decoding checks their shape, not every rule again
  metadata: Schema.Record(Schema.String, Schema.Json)
})
export type EventRow = typeof EventRow.Type

const PositionRow = Schema.Struct({ transaction_id: Schema.String, global_position: Schema.BigInt })
const CountRow = Schema.Struct({ events: Schema.BigInt, oldest: Schema.OptionFromNullOr(Schema.Date) })
const StreamRow = Schema.Struct({ version: Schema.Int, stream_type: Schema.String })

const FilterRequest = Schema.Struct({
  streamTypes: Schema.optional(Schema.Array(Schema.String)),
  eventTypes: Schema.optional(Schema.Array(Schema.String))
})
const LogRequest = Schema.Struct({ after: Position.Position, ...FilterRequest.fields })

/** The columns every event read selects, with ids as text. */
export const eventColumns = (alias: string) =>
  `${alias}.global_position, ${alias}.transaction_id::text AS transaction_id, ${alias}.stream_id, ${alias}.stream_type,
   ${alias}.version, ${alias}.event_id::text AS event_id, ${alias}.event_type, ${alias}.schema_version,
   ${alias}.data, ${alias}.metadata`

/** The row as the envelope the store hands out. */
export const toRecorded = (row: EventRow): EventEnvelope.RecordedEvent => ({
  eventId: row.event_id,
  streamId: row.stream_id,
  streamType: row.stream_type,
  type: row.event_type,
  schemaVersion: row.schema_version,
  data: row.data,
  metadata: row.metadata as EventEnvelope.EventMetadata,
  version: row.version,
  position: Position.make(BigInt(row.transaction_id), row.global_position)
})

const toPosition = (row: typeof PositionRow.Type): Position.Position =>
  Position.make(BigInt(row.transaction_id), row.global_position)

/** The text form of a position: 20 digits, "-", 20 digits. */
const positionLength = 41

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The horizon of the statement it is part of (see the module comment): one read of pg_locks (a
 * view over a function: two references would read it twice, at two moments).
 */
const horizonQuery = (schema: string): string => {
  const snapshot = "pg_catalog.pg_current_snapshot()"
  const key = appendLock(schema)
  return `WITH locks AS MATERIALIZED (
      SELECT l.locktype, l.virtualtransaction, l.transactionid FROM pg_catalog.pg_locks l
      WHERE l.granted AND (l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'
        OR l.locktype = 'advisory' AND l.classid = ${key.classid} AND l.objid = ${key.objid} AND l.objsubid = 2
          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())))
    SELECT least(pg_catalog.pg_snapshot_xmax(${snapshot}), (
      SELECT min(x) FROM pg_catalog.pg_snapshot_xip(${snapshot}) x
      WHERE x::xid NOT IN (SELECT t.transactionid FROM locks t WHERE t.locktype = 'transactionid'
        AND NOT EXISTS (SELECT FROM locks a WHERE a.locktype = 'advisory' AND a.virtualtransaction = t.virtualtransaction))))`
}

/** The read statements over the tables of `schema`. */
export const make = Effect.fnUntraced(function* (schema: string) {
  const sql = yield* SqlClient.SqlClient
  // every read is safe to run again on a fresh connection (never alone inside a transaction)
  const retry = retryOnConnectionLoss(sql)
  const streamsTable = sql(`${schema}.streams`)
  const eventsTable = sql(`${schema}.events`)
  const columns = sql.literal(eventColumns("e"))
  const horizon = sql.literal(`(${horizonQuery(schema)})`)

  /** `e.stream_type IN (...) AND e.event_type IN (...)`; an empty list matches nothing. */
  const filterOf = (filter: EventStore.LogFilter): Fragment => {
    const clauses: Array<Fragment> = []
    if (filter.streamTypes !== undefined) {
      clauses.push(filter.streamTypes.length === 0 ? sql`false` : sql`e.stream_type IN ${sql.in(filter.streamTypes)}`)
    }
    if (filter.eventTypes !== undefined) {
      clauses.push(filter.eventTypes.length === 0 ? sql`false` : sql`e.event_type IN ${sql.in(filter.eventTypes)}`)
    }
    return clauses.length === 0 ? sql`true` : sql.and(clauses)
  }

  const afterPosition = (after: string) => {
    const position = after as Position.Position
    return sql`(e.transaction_id, e.global_position) >
      (${Position.transactionId(position).toString()}::xid8, ${Position.globalPosition(position).toString()}::bigint)`
  }

  /** Stored events with these ids (uuid text), in no particular order. */
  const byEventIds = SqlSchema.findAll({
    Request: Schema.Array(Schema.String),
    Result: EventRow,
    // compare as uuid, not as text: the unique index on event_id answers it (a text cast scans the log)
    execute: (ids) =>
      sql`SELECT ${columns} FROM ${eventsTable} e
        WHERE e.event_id IN (${sql.join(", ", false)(ids.map((id) => sql`${id}::uuid`))})`
  })

  const eventsByIds = (ids: ReadonlyArray<string>) =>
    byEventIds(ids).pipe(
      retry,
      Effect.map((rows) => rows.map(toRecorded))
    )

  const findStreamRow = SqlSchema.findOneOption({
    Request: Schema.String,
    Result: StreamRow,
    execute: (streamId) => sql`SELECT version, stream_type FROM ${streamsTable} WHERE stream_id = ${streamId}`
  })
  const streamRow = (streamId: string) => retry(findStreamRow(streamId))

  const streamVersion = (streamId: string) =>
    streamRow(streamId).pipe(
      Effect.map(Option.match({ onNone: () => 0, onSome: (row) => row.version })),
      Effect.mapError(Errors.infrastructure("streamVersion"))
    )

  // one round trip: the stream's row (none: no such stream) and, joined to it, one page of its
  // events up to the head ($3, the head seen by the first page, or the stream's version now)
  const quoted = `"${schema.replaceAll('"', '""')}"`
  // the position is formatted by the server (Position's text form): no BigInt per row here
  const pageText = (backward: boolean) => `SELECT s.version, s.stream_type,
      lpad(e.transaction_id::text, 20, '0') || '-' || lpad(e.global_position::text, 20, '0'),
      e.version, e.event_id::text, e.event_type, e.schema_version, e.data, e.metadata
    FROM ${quoted}.streams s LEFT JOIN LATERAL (
      SELECT * FROM ${quoted}.events e
      WHERE e.stream_id = s.stream_id AND e.version <= least(s.version, coalesce($3::int, s.version))
        ${backward ? "AND e.version <= coalesce($2::int, s.version) ORDER BY e.version DESC" : "AND e.version >= $2::int ORDER BY e.version"}
      LIMIT $4::int
    ) e ON true
    WHERE s.stream_id = $1::text`
  const forwardPage = pageText(false)
  const backwardPage = pageText(true)

  const malformedRow = (row: ReadonlyArray<unknown>) =>
    new Errors.InfrastructureError({ operation: "readStream", cause: new Error(`unexpected row: ${String(row)}`) })

  /**
   * One page of a stream: `limit` events from version `from` on (down from it when backward;
   * from the last when `from` is undefined), up to `head` (the stream's version when undefined),
   * with the stream's version. None when the stream does not exist.
   */
  const streamPage = (request: {
    readonly streamId: string
    readonly from: number | undefined
    readonly head: number | undefined
    readonly limit: number
    readonly backward: boolean
  }): Effect.Effect<
    Option.Option<{ readonly head: number; readonly events: Array<EventEnvelope.RecordedEvent> }>,
    Errors.InfrastructureError
  > =>
    sql
      .unsafe(request.backward ? backwardPage : forwardPage, [
        request.streamId,
        request.from ?? null,
        request.head ?? null,
        request.limit
      ])
      .values.pipe(
        retry,
        Effect.mapError(Errors.infrastructure("readStream")),
        Effect.flatMap((rows) => {
          const first = rows[0]
          if (first === undefined) return Effect.succeedNone
          const head = first[0]
          if (typeof head !== "number") return Effect.fail(malformedRow(first))
          const events: Array<EventEnvelope.RecordedEvent> = []
          // rows of our own table (columns NOT NULL): their shape is checked, not every rule again
          for (const row of rows) {
            const [, streamType, position, version, eventId, type, schemaVersion, data, metadata] = row
            if (position === null) break // the stream exists, the page is empty
            if (
              typeof streamType !== "string" ||
              typeof position !== "string" ||
              position.length !== positionLength ||
              typeof version !== "number" ||
              typeof eventId !== "string" ||
              typeof type !== "string" ||
              typeof schemaVersion !== "number" ||
              data === undefined ||
              typeof metadata !== "object" ||
              metadata === null ||
              Array.isArray(metadata)
            ) {
              return Effect.fail(malformedRow(row))
            }
            events.push({
              eventId,
              streamId: request.streamId,
              streamType,
              type,
              schemaVersion,
              data: data as Schema.Json,
              metadata: metadata as EventEnvelope.EventMetadata,
              version,
              position: position as Position.Position
            })
          }
          return Effect.succeed(Option.some({ head, events }))
        })
      )

  const logPage = SqlSchema.findAll({
    Request: Schema.Struct({ ...LogRequest.fields, limit: Schema.Int }),
    Result: EventRow,
    // the horizon is needed only when some row could be returned: a reader at the head (a tail
    // polling) skips pg_locks, which costs more than the rest of an empty poll. The probe is ordered
    // like the index (an EXISTS gets a sequential scan in the generic plan of a prepared statement)
    execute: ({ after, limit, ...filter }) =>
      sql`SELECT ${columns} FROM ${eventsTable} e
        WHERE e.transaction_id < (SELECT CASE WHEN (SELECT e.transaction_id FROM ${eventsTable} e
            WHERE e.transaction_id < pg_snapshot_xmax(pg_current_snapshot()) AND ${afterPosition(after)}
              AND ${filterOf(filter)} ORDER BY e.transaction_id, e.global_position LIMIT 1) IS NULL
          THEN pg_snapshot_xmax(pg_current_snapshot()) ELSE ${horizon} END)
          AND ${afterPosition(after)}
          AND ${filterOf(filter)}
        ORDER BY e.transaction_id, e.global_position
        LIMIT ${limit}`
  })

  /** One page of the global log after `after`, below the horizon of open transactions. */
  const readLogPage = (after: Position.Position, limit: number, filter: EventStore.LogFilter) =>
    logPage({ after, limit, streamTypes: filter.streamTypes, eventTypes: filter.eventTypes }).pipe(
      retry,
      Effect.map((rows) => rows.map(toRecorded)),
      Effect.mapError(Errors.infrastructure("readAll"))
    )

  const findEvent = (eventId: string) =>
    uuidPattern.test(eventId)
      ? eventsByIds([eventId]).pipe(
          Effect.map((events) => Option.fromNullishOr(events[0])),
          Effect.mapError(Errors.infrastructure("findEvent"))
        )
      : Effect.succeedNone

  const head = SqlSchema.findOneOption({
    Request: FilterRequest,
    Result: PositionRow,
    execute: (filter) =>
      sql`SELECT e.transaction_id::text AS transaction_id, e.global_position FROM ${eventsTable} e
        WHERE e.transaction_id < ${horizon} AND ${filterOf(filter)}
        ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1`
  })

  const lastCommitted = SqlSchema.findOneOption({
    Request: FilterRequest,
    Result: PositionRow,
    execute: (filter) =>
      sql`SELECT e.transaction_id::text AS transaction_id, e.global_position FROM ${eventsTable} e
        WHERE ${filterOf(filter)}
        ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1`
  })

  const count = SqlSchema.findOne({
    Request: LogRequest,
    Result: CountRow,
    execute: ({ after, ...filter }) =>
      sql`SELECT count(*) AS events, min(e.created_at) AS oldest FROM ${eventsTable} e
        WHERE ${afterPosition(after)} AND ${filterOf(filter)}`
  })

  const filterRequest = (filter?: EventStore.LogFilter) => ({
    streamTypes: filter?.streamTypes,
    eventTypes: filter?.eventTypes
  })

  /** The last event a gap-safe reader can see now (`Position.start` when none). */
  const headPosition = (filter?: EventStore.LogFilter) =>
    head(filterRequest(filter)).pipe(
      retry,
      Effect.map(Option.match({ onNone: () => Position.start, onSome: toPosition })),
      Effect.mapError(Errors.infrastructure("headPosition"))
    )

  /**
   * The last committed event, visible to a gap-safe reader or not yet (an older transaction is
   * still open). Never a start position: starting there would skip what the open transaction
   * commits later.
   */
  const lastCommittedPosition = (filter?: EventStore.LogFilter) =>
    lastCommitted(filterRequest(filter)).pipe(
      retry,
      Effect.map(Option.match({ onNone: () => Position.start, onSome: toPosition })),
      Effect.mapError(Errors.infrastructure("lastCommittedPosition"))
    )

  /** Committed events after `after`, including those still waiting below the horizon. */
  const countAfter = (after: Position.Position, filter?: EventStore.LogFilter) =>
    count({ after, ...filterRequest(filter) }).pipe(
      retry,
      Effect.map((row) => ({ events: Number(row.events), oldest: row.oldest })),
      Effect.mapError(Errors.infrastructure("countAfter"))
    )

  return {
    eventsByIds,
    streamRow,
    streamVersion,
    streamPage,
    readLogPage,
    findEvent,
    headPosition,
    lastCommittedPosition,
    countAfter
  } as const
})
