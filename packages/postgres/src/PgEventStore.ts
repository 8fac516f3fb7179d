/**
 * The `EventStore` on PostgreSQL (and on PGlite, through the same SQL client).
 *
 * An append is one SQL statement (internal/appendSql.ts): it takes the stream's advisory lock,
 * then a data-modifying CTE bumps the stream's row only if the expectation holds
 * (`UPDATE ... WHERE version = $expected`, `INSERT ... ON CONFLICT DO NOTHING`), inserts every
 * event in one multi-row INSERT numbered from the bumped version (and, with `notifyMode:
 * "in-transaction"`, NOTIFYs; by default the NOTIFY follows the commit). Row locks
 * serialise writers to one stream, so two appends with the same expectation can never both
 * pass; the loser sees zero rows and gets `ConcurrencyConflict` with the actual version.
 *
 * The global log (internal/readSql.ts) is read in (transaction_id, global_position) order, only
 * below the oldest transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`): an
 * event whose transaction commits late can never be skipped by a reader that already moved past
 * it. Rows are decoded with `SqlSchema` in those modules.
 *
 * @since 0.1.0
 */
import { CommitSignal, Errors, type EventEnvelope, EventStore, ExpectedVersion, Position } from "@eventline/core"
import { Effect, Layer, Option, Queue, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as AppendSql from "./internal/appendSql.ts"
import * as ReadSql from "./internal/readSql.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

const isEventIdViolation = (error: SqlError.SqlError): boolean =>
  error.reason._tag === "UniqueViolation" && error.reason.constraint.includes("event_id")

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig
  // in-process wake-ups (PGlite); on PostgreSQL the NOTIFY (after the commit by default) does this
  const signal = yield* Effect.serviceOption(CommitSignal.CommitSignal)
  const notifyMode = config.notifyMode ?? "after-commit"
  const notifyInTransaction = notifyMode === "in-transaction"
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
  if (notifyMode === "after-commit") {
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
  const reads = yield* ReadSql.make(config.schema)
  const appends = yield* AppendSql.make({
    schema: config.schema,
    notifyChannel: config.notifyChannel,
    notify: notifyInTransaction
  })

  /** The earlier append these ids belong to (a retry), none, or a misuse of the ids. */
  const findEarlierAppend = Effect.fnUntraced(function* (
    streamId: string,
    events: ReadonlyArray<EventStore.IdentifiedEvent>
  ) {
    const found = yield* reads
      .eventsByIds(events.map((event) => event.eventId))
      .pipe(Effect.mapError(Errors.infrastructure("append.findEarlierAppend")))
    const byId = new Map(found.map((event) => [event.eventId, event]))
    const earlier = EventStore.earlierAppend(streamId, events, (eventId) => byId.get(eventId))
    return Option.isOption(earlier) ? earlier : yield* earlier
  })

  /** Why an append matched no stream row: another stream type, or another version. */
  const diagnose = Effect.fnUntraced(function* (
    streamId: string,
    streamType: string,
    expected: ExpectedVersion.ExpectedVersion
  ) {
    const current = yield* reads.streamRow(streamId).pipe(Effect.mapError(Errors.infrastructure("append.diagnose")))
    if (Option.isSome(current) && current.value.stream_type !== streamType) {
      return yield* new Errors.InvalidEvent({
        streamId,
        reason: `the stream has type '${current.value.stream_type}', not '${streamType}'`
      })
    }
    const actual = Option.match(current, { onNone: () => 0, onSome: (row) => row.version })
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
    const request: AppendSql.AppendRequest = {
      streamId,
      streamType,
      expected,
      total: events.length,
      events,
      serialized,
      offset: 0,
      chunk: AppendSql.rowsPerStatement,
      firstVersion: 0
    }
    const inserted: Array<AppendSql.InsertedRow> = []
    while (inserted.length === 0) {
      const rows = yield* appends.appendFirst(request)
      if (rows.length === 0) yield* diagnose(streamId, streamType, expected)
      inserted.push(...rows)
    }
    const firstVersion = (inserted[0] as AppendSql.InsertedRow).version
    for (let offset = AppendSql.rowsPerStatement; offset < events.length; offset += AppendSql.rowsPerStatement) {
      inserted.push(...(yield* appends.appendMore({ ...request, offset, firstVersion })))
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
    if (notifyMode === "after-commit") yield* sql.afterCommit(Effect.sync(() => notifyLater(committed)))
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
    const recordedFrom = (inserted: ReadonlyArray<AppendSql.InsertedRow>) => {
      const byId = new Map(inserted.map((row) => [row.event_id, row] as const))
      return withIds.map((event): EventEnvelope.RecordedEvent => {
        const row = byId.get(event.eventId) as AppendSql.InsertedRow
        return EventStore.recordedEvent(event, {
          streamId,
          streamType: options.streamType,
          version: row.version,
          position: Position.make(BigInt(row.transaction_id), row.global_position)
        })
      })
    }
    const written = Effect.map(write(streamId, expected, withIds, serialized, options.streamType), recordedFrom)
    const recorded = yield* (events.length > AppendSql.rowsPerStatement ? sql.withTransaction(written) : written).pipe(
      Effect.catchTag("SqlError", (error) =>
        isEventIdViolation(error)
          ? // a concurrent append stored these ids first: a retry that raced, or a misuse
            Effect.flatMap(findEarlierAppend(streamId, withIds), (earlier) =>
              Option.isSome(earlier)
                ? Effect.succeed(earlier.value.events)
                : Effect.fail(new Errors.DuplicateEventId({ eventId: withIds[0]?.eventId ?? "", streamId }))
            )
          : Effect.fail(Errors.infrastructure("append")(error))
      ),
      Effect.catchTag("SchemaError", (error) => Effect.fail(Errors.infrastructure("append")(error))),
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

  const readStream = (
    streamId: string,
    options?: EventStore.ReadStreamOptions
  ): Stream.Stream<EventEnvelope.RecordedEvent, Errors.StreamNotFound | Errors.InfrastructureError> =>
    Stream.unwrap(
      Effect.gen(function* (): Effect.fn.Return<
        Stream.Stream<EventEnvelope.RecordedEvent, Errors.StreamNotFound | Errors.InfrastructureError>,
        Errors.InfrastructureError
      > {
        const head = yield* reads.streamVersion(streamId)
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
            const rows = yield* reads.readStreamPage({ streamId, from: next, head, limit, backward })
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
    const filter: EventStore.LogFilter = { streamTypes: options?.streamTypes, eventTypes: options?.eventTypes }
    return Stream.paginate(after, (cursor) =>
      Effect.gen(function* () {
        const rows = yield* reads.readLogPage(cursor, batchSize, filter)
        const last = rows[rows.length - 1]
        return [
          rows,
          rows.length === batchSize && last !== undefined ? Option.some(last.position) : Option.none()
        ] as const
      })
    )
  }

  return EventStore.EventStore.of({
    append,
    readStream,
    readAll,
    streamVersion: reads.streamVersion,
    findEvent: reads.findEvent,
    headPosition: reads.headPosition,
    lastCommittedPosition: reads.lastCommittedPosition,
    countAfter: reads.countAfter
  })
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
