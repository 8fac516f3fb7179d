/**
 * The `EventStore` on PostgreSQL (and on PGlite, through the same SQL client).
 *
 * An append is one SQL statement: it takes the stream's advisory lock, then a data-modifying CTE
 * bumps the stream's row only if the
 * expectation holds (`UPDATE ... WHERE version = $expected`, `INSERT ... ON CONFLICT DO NOTHING`),
 * inserts every event in one multi-row INSERT numbered from the bumped version, and NOTIFYs. Row
 * locks serialise writers to one stream, so two appends with the same expectation can never both
 * pass; the loser sees zero rows and gets `ConcurrencyConflict` with the actual version.
 *
 * The global log is read in (transaction_id, global_position) order, only below the oldest
 * transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`): an event whose
 * transaction commits late can never be skipped by a reader that already moved past it.
 *
 * @since 0.1.0
 */
import {
  CommitSignal,
  type EventEnvelope as Envelope,
  Errors,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  Position
} from "@eventline/core"
import { Effect, Layer, Option, Queue, Schema, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { Fragment } from "effect/sql/Statement"

import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * Writers to one stream queue on an advisory lock before they write anything. A transaction gets
 * its id (xid) at its first write, so the waiter's xid is then always larger than the holder's,
 * and the global log, ordered by xid, keeps every stream in version order. Waiting on the row
 * lock alone does not: the waiter may take its xid first and then write the later version.
 * (The class id keeps these locks apart from other users of advisory locks.)
 */
const streamLockClass = 0x45564c31 // "EVL1"

/** Rows per INSERT statement: PostgreSQL allows 65535 parameters, an event takes 6. */
const rowsPerStatement = 4000

const EventRow = Schema.Struct({
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
type EventRow = typeof EventRow.Type
const EventRows = Schema.Array(EventRow)

const InsertedRows = Schema.Array(
  Schema.Struct({
    global_position: Schema.BigInt,
    transaction_id: Schema.String,
    event_id: Schema.String,
    version: Schema.Int
  })
)

const StreamRows = Schema.Array(Schema.Struct({ version: Schema.Int, stream_type: Schema.String }))

const toRecorded = (row: EventRow): EventEnvelope.RecordedEvent => ({
  eventId: row.event_id,
  streamId: row.stream_id,
  streamType: row.stream_type,
  type: row.event_type,
  schemaVersion: row.schema_version,
  data: row.data,
  metadata: row.metadata as Envelope.EventMetadata,
  version: row.version,
  position: Position.make(BigInt(row.transaction_id), row.global_position)
})

const infrastructure = (operation: string) => (cause: SqlError.SqlError | Schema.SchemaError) =>
  new Errors.InfrastructureError({ operation, cause })

const isEventIdViolation = (error: SqlError.SqlError): boolean =>
  error.reason._tag === "UniqueViolation" && error.reason.constraint.includes("event_id")

const eventColumns = (alias: string) =>
  `${alias}.global_position, ${alias}.transaction_id::text AS transaction_id, ${alias}.stream_id, ${alias}.stream_type,
   ${alias}.version, ${alias}.event_id::text AS event_id, ${alias}.event_type, ${alias}.schema_version,
   ${alias}.data, ${alias}.metadata`

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig
  // in-process wake-ups (PGlite); on PostgreSQL the statement's NOTIFY does this
  const signal = yield* Effect.serviceOption(CommitSignal.CommitSignal)
  const notifyInTransaction = (config.notifyMode ?? "in-transaction") === "in-transaction"
  // "after-commit": the latest position per stream type, sent by one fiber as its own statement
  const pendingNotifications = new Map<string, Position.Position>()
  const doorbell = yield* Queue.sliding<void>(1)
  const notifyLater = (committed: CommitSignal.Committed) => {
    const known = pendingNotifications.get(committed.streamType)
    if (known === undefined || Position.compare(known, committed.position) < 0) {
      pendingNotifications.set(committed.streamType, committed.position)
    }
    Queue.offerUnsafe(doorbell, undefined)
  }
  if (!notifyInTransaction) {
    yield* Queue.take(doorbell).pipe(
      Effect.andThen(
        Effect.suspend(() => {
          const batch = [...pendingNotifications]
          pendingNotifications.clear()
          return Effect.forEach(batch, ([streamType, position]) =>
            sql`SELECT pg_notify(${config.notifyChannel}, ${JSON.stringify({ streamType, position })})`.pipe(
              Effect.catchCause((cause) => Effect.logWarning("NOTIFY failed; readers fall back to polling", cause))
            )
          )
        })
      ),
      Effect.forever,
      Effect.forkScoped
    )
  }
  const streamsTable = sql(`${config.schema}.streams`)
  const eventsTable = sql(`${config.schema}.events`)
  const columns = sql.literal(eventColumns("e"))

  const decodeEvents = (operation: string) => (rows: ReadonlyArray<unknown>) =>
    Schema.decodeUnknownEffect(EventRows)(rows).pipe(
      Effect.map((decoded) => decoded.map(toRecorded)),
      Effect.mapError(infrastructure(operation))
    )

  /** The earlier append these ids belong to (a retry), none, or a misuse of the ids. */
  const findEarlierAppend = Effect.fnUntraced(function* (
    streamId: string,
    events: ReadonlyArray<EventStore.IdentifiedEvent>
  ) {
    const ids = events.map((event) => event.eventId)
    // compare as uuid, not as text: the unique index on event_id answers it (a text cast scans the log)
    const asUuids = sql.join(", ", false)(ids.map((id) => sql`${id}::uuid`))
    const found = yield* sql`SELECT ${columns} FROM ${eventsTable} e WHERE e.event_id IN (${asUuids})`.pipe(
      Effect.mapError(infrastructure("append.findEarlierAppend")),
      Effect.flatMap(decodeEvents("append.findEarlierAppend"))
    )
    const byId = new Map(found.map((event) => [event.eventId, event]))
    const earlier = EventStore.earlierAppend(streamId, events, (eventId) => byId.get(eventId))
    return Option.isOption(earlier) ? earlier : yield* earlier
  })

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

  const valuesOf = (
    events: ReadonlyArray<EventStore.IdentifiedEvent>,
    offset: number,
    serialized: ReadonlyArray<EventStore.SerializedEvent>
  ) =>
    sql.join(
      ", ",
      false
    )(
      events.map(
        (event, index) =>
          sql`(${offset + index + 1}::int, ${event.eventId}::uuid, ${event.type}::text, ${event.schemaVersion}::int,
            ${serialized[offset + index]?.data}::jsonb, ${serialized[offset + index]?.metadata}::jsonb)`
      )
    )

  /** One statement: bump the stream, insert the first chunk of events, notify. */
  const appendStatement = (
    streamId: string,
    streamType: string,
    expected: ExpectedVersion.ExpectedVersion,
    total: number,
    chunk: ReadonlyArray<EventStore.IdentifiedEvent>,
    serialized: ReadonlyArray<EventStore.SerializedEvent>
  ) => sql`WITH stream_lock AS (SELECT pg_advisory_xact_lock(${streamLockClass}::int, hashtext(${streamId}))),
    bump AS (${bumpStream(streamId, streamType, expected, total)}),
    inserted AS (
      INSERT INTO ${eventsTable} (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
      SELECT ${streamId}, ${streamType}, bump.version - ${total}::int + v.ordinal,
        v.event_id, v.event_type, v.schema_version, v.data, v.metadata
      FROM bump CROSS JOIN (VALUES ${valuesOf(chunk, 0, serialized)}) AS v(ordinal, event_id, event_type, schema_version, data, metadata)
      RETURNING global_position, transaction_id, event_id, version
    ),
    notified AS (
      SELECT pg_notify(${config.notifyChannel}, json_build_object(
        'streamType', ${streamType}::text,
        'position', lpad(pg_current_xact_id()::text, 20, '0') || '-' || lpad(max(global_position)::text, 20, '0')
      )::text) FROM inserted HAVING count(*) > 0 AND ${notifyInTransaction}
    )
    SELECT i.global_position, i.transaction_id::text AS transaction_id, i.event_id::text AS event_id, i.version
    FROM inserted i WHERE (SELECT count(*) FROM notified) >= 0 ORDER BY i.version`

  /** A later chunk of a large append, in the same transaction as the first. */
  const insertChunk = (
    streamId: string,
    streamType: string,
    firstVersion: number,
    chunk: ReadonlyArray<EventStore.IdentifiedEvent>,
    offset: number,
    serialized: ReadonlyArray<EventStore.SerializedEvent>
  ) => sql`INSERT INTO ${eventsTable} (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
    SELECT ${streamId}, ${streamType}, ${firstVersion - 1}::int + v.ordinal,
      v.event_id, v.event_type, v.schema_version, v.data, v.metadata
    FROM (VALUES ${valuesOf(chunk, offset, serialized)}) AS v(ordinal, event_id, event_type, schema_version, data, metadata)
    RETURNING global_position, transaction_id::text AS transaction_id, event_id::text AS event_id, version`

  /** Why an append matched no stream row: another stream type, or another version. */
  const diagnose = Effect.fnUntraced(function* (
    streamId: string,
    streamType: string,
    expected: ExpectedVersion.ExpectedVersion
  ) {
    const rows = yield* sql`SELECT version, stream_type FROM ${streamsTable} WHERE stream_id = ${streamId}`.pipe(
      Effect.flatMap(Schema.decodeUnknownEffect(StreamRows)),
      Effect.mapError(infrastructure("append.diagnose"))
    )
    const current = rows[0]
    if (current !== undefined && current.stream_type !== streamType) {
      return yield* new Errors.InvalidEvent({
        streamId,
        reason: `the stream has type '${current.stream_type}', not '${streamType}'`
      })
    }
    const actual = current?.version ?? 0
    // the stream moved between the append and this read, and now satisfies the expectation: the
    // append can simply run again (it is linearised after that writer); report only real conflicts
    if (ExpectedVersion.isSatisfiedBy(expected, actual)) return "retry" as const
    return yield* new Errors.ConcurrencyConflict({ streamId, expected: ExpectedVersion.format(expected), actual })
  })

  const write = Effect.fnUntraced(function* (
    streamId: string,
    expected: ExpectedVersion.ExpectedVersion,
    events: ReadonlyArray<EventStore.IdentifiedEvent>,
    serialized: ReadonlyArray<EventStore.SerializedEvent>,
    streamType: string
  ) {
    const first = events.slice(0, rowsPerStatement)
    const inserted: Array<Schema.Schema.Type<typeof InsertedRows>[number]> = []
    while (inserted.length === 0) {
      const rows = yield* appendStatement(streamId, streamType, expected, events.length, first, serialized).pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(InsertedRows))
      )
      if (rows.length === 0) yield* diagnose(streamId, streamType, expected)
      inserted.push(...rows)
    }
    const firstVersion = (inserted[0] as (typeof inserted)[number]).version
    for (let offset = rowsPerStatement; offset < events.length; offset += rowsPerStatement) {
      const chunk = events.slice(offset, offset + rowsPerStatement)
      const rows = yield* insertChunk(streamId, streamType, firstVersion, chunk, offset, serialized).pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(InsertedRows))
      )
      inserted.push(...rows)
    }
    return inserted
  })

  const append = Effect.fn("PgEventStore.append")(function* (
    streamId: string,
    expected: ExpectedVersion.ExpectedVersion,
    events: ReadonlyArray<EventEnvelope.NewEvent>,
    options: EventStore.AppendOptions
  ) {
    const serialized = yield* EventStore.validateAppend(streamId, events, options)
    const callerGaveIds = events.some((event) => event.eventId !== undefined)
    const withIds = yield* EventStore.withEventIds(events)

    if (callerGaveIds) {
      const earlier = yield* findEarlierAppend(streamId, withIds)
      if (Option.isSome(earlier)) return earlier.value
    }
    const result = yield* appendOnce(streamId, expected, events, options, withIds, serialized, callerGaveIds)
    // announcements wait for the commit of any transaction the append runs in
    const committed = { streamType: options.streamType, position: result.lastPosition }
    if (Option.isSome(signal)) yield* sql.afterCommit(signal.value.publish(committed))
    if (!notifyInTransaction) yield* sql.afterCommit(Effect.sync(() => notifyLater(committed)))
    return result
  })

  const appendOnce = Effect.fnUntraced(function* (
    streamId: string,
    expected: ExpectedVersion.ExpectedVersion,
    events: ReadonlyArray<EventEnvelope.NewEvent>,
    options: EventStore.AppendOptions,
    withIds: ReadonlyArray<EventStore.IdentifiedEvent>,
    serialized: ReadonlyArray<EventStore.SerializedEvent>,
    callerGaveIds: boolean
  ) {
    const recordedFrom = (inserted: ReadonlyArray<Schema.Schema.Type<typeof InsertedRows>[number]>) => {
      const byId = new Map(inserted.map((row) => [row.event_id, row] as const))
      return withIds.map((event): EventEnvelope.RecordedEvent => {
        const row = byId.get(event.eventId) as Schema.Schema.Type<typeof InsertedRows>[number]
        return EventStore.recordedEvent(event, {
          streamId,
          streamType: options.streamType,
          version: row.version,
          position: Position.make(BigInt(row.transaction_id), row.global_position)
        })
      })
    }
    const written = Effect.map(write(streamId, expected, withIds, serialized, options.streamType), recordedFrom)
    const recorded = yield* (events.length > rowsPerStatement ? sql.withTransaction(written) : written).pipe(
      Effect.catchTag("SqlError", (error) =>
        isEventIdViolation(error)
          ? // a concurrent append stored these ids first: a retry that raced, or a misuse
            Effect.flatMap(findEarlierAppend(streamId, withIds), (earlier) =>
              Option.isSome(earlier)
                ? Effect.succeed(earlier.value.events)
                : Effect.fail(new Errors.DuplicateEventId({ eventId: withIds[0]?.eventId ?? "", streamId }))
            )
          : Effect.fail(infrastructure("append")(error))
      ),
      Effect.catchTag("SchemaError", (error) => Effect.fail(infrastructure("append")(error))),
      Effect.catchTag("ConcurrencyConflict", (conflict) =>
        callerGaveIds
          ? // the same batch may have been committed by a concurrent retry: that is success
            Effect.flatMap(findEarlierAppend(streamId, withIds), (earlier) =>
              Option.isSome(earlier) ? Effect.succeed(earlier.value.events) : Effect.fail(conflict)
            )
          : Effect.fail(conflict)
      )
    )
    return EventStore.appendResult(recorded)
  })

  const streamHead = (streamId: string) =>
    sql`SELECT version, stream_type FROM ${streamsTable} WHERE stream_id = ${streamId}`.pipe(
      Effect.flatMap(Schema.decodeUnknownEffect(StreamRows)),
      Effect.mapError(infrastructure("streamVersion")),
      Effect.map((rows) => rows[0]?.version ?? 0)
    )

  const readStream = (
    streamId: string,
    options?: EventStore.ReadStreamOptions
  ): Stream.Stream<EventEnvelope.RecordedEvent, Errors.StreamNotFound | Errors.InfrastructureError> =>
    Stream.unwrap(
      Effect.gen(function* (): Effect.fn.Return<
        Stream.Stream<EventEnvelope.RecordedEvent, Errors.StreamNotFound | Errors.InfrastructureError>,
        Errors.InfrastructureError
      > {
        const head = yield* streamHead(streamId)
        if (head === 0) return Stream.fail(new Errors.StreamNotFound({ streamId }))
        const pageSize = EventStore.defaultBatchSize
        const backward = options?.direction === "backward"
        const maxCount = options?.maxCount ?? Number.POSITIVE_INFINITY
        const start = backward ? Math.min(options?.from ?? head, head) : Math.max(options?.from ?? 1, 1)
        // keyset pages bounded by the head seen at the start: memory stays at one page
        return Stream.paginate({ next: start, remaining: maxCount }, ({ next, remaining }) =>
          Effect.gen(function* () {
            const limit = Math.min(pageSize, remaining)
            if (limit <= 0 || (backward ? next < 1 : next > head)) {
              return [[], Option.none()] as const
            }
            const rows = yield* (
              backward
                ? sql`SELECT ${columns} FROM ${eventsTable} e
                    WHERE e.stream_id = ${streamId} AND e.version <= ${next}
                    ORDER BY e.version DESC LIMIT ${limit}`
                : sql`SELECT ${columns} FROM ${eventsTable} e
                    WHERE e.stream_id = ${streamId} AND e.version >= ${next} AND e.version <= ${head}
                    ORDER BY e.version LIMIT ${limit}`
            ).pipe(Effect.mapError(infrastructure("readStream")), Effect.flatMap(decodeEvents("readStream")))
            const last = rows[rows.length - 1]
            const more = rows.length === limit && last !== undefined
            return [
              rows,
              more
                ? Option.some({
                    next: backward ? last.version - 1 : last.version + 1,
                    remaining: remaining - rows.length
                  })
                : Option.none()
            ] as const
          })
        )
      })
    )

  const readAll = (
    options?: EventStore.ReadAllOptions
  ): Stream.Stream<EventEnvelope.RecordedEvent, Errors.InfrastructureError> => {
    const batchSize = options?.batchSize ?? EventStore.defaultBatchSize
    const after = options?.after ?? Position.start
    const streamTypes = options?.streamTypes
    const eventTypes = options?.eventTypes
    const filters: Array<Fragment> = []
    if (streamTypes !== undefined) {
      filters.push(streamTypes.length === 0 ? sql`false` : sql`e.stream_type IN ${sql.in(streamTypes)}`)
    }
    if (eventTypes !== undefined) {
      filters.push(eventTypes.length === 0 ? sql`false` : sql`e.event_type IN ${sql.in(eventTypes)}`)
    }
    const filter = filters.length === 0 ? sql`true` : sql.and(filters)
    return Stream.paginate(after, (cursor) =>
      Effect.gen(function* () {
        const rows = yield* sql`SELECT ${columns} FROM ${eventsTable} e
            WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
              AND (e.transaction_id, e.global_position) > (${Position.transactionId(cursor).toString()}::xid8, ${Position.globalPosition(cursor).toString()}::bigint)
              AND ${filter}
            ORDER BY e.transaction_id, e.global_position
            LIMIT ${batchSize}`.pipe(
          Effect.mapError(infrastructure("readAll")),
          Effect.flatMap(decodeEvents("readAll"))
        )
        const last = rows[rows.length - 1]
        return [
          rows,
          rows.length === batchSize && last !== undefined ? Option.some(last.position) : Option.none()
        ] as const
      })
    )
  }

  const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
  const findEvent = (eventId: string) =>
    uuidPattern.test(eventId)
      ? sql`SELECT ${columns} FROM ${eventsTable} e WHERE e.event_id = ${eventId}::uuid`.pipe(
          Effect.mapError(infrastructure("findEvent")),
          Effect.flatMap(decodeEvents("findEvent")),
          Effect.map((rows) => Option.fromNullishOr(rows[0]))
        )
      : Effect.succeed(Option.none())

  return EventStore.EventStore.of({ append, readStream, readAll, streamVersion: streamHead, findEvent })
})

/**
 * The store over the `SqlClient` in context (PostgreSQL or PGlite). Run the migrations first
 * (`Migrations.layer`), or use {@link layerWithMigrations}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<EventStore.EventStore, never, SqlClient.SqlClient> = Layer.effect(
  EventStore.EventStore,
  make
)
