/**
 * The `EventStore` on PostgreSQL (and on PGlite, through the same SQL client).
 *
 * An append is one SQL statement whatever its size (internal/appendSql.ts): a data-modifying CTE
 * bumps the stream's row only if the expectation holds
 * (`UPDATE ... WHERE version = $expected`, `INSERT ... ON CONFLICT DO NOTHING`) and inserts every
 * event from parallel arrays, numbered from the bumped version (and, with `notifyMode:
 * "in-transaction"`, NOTIFYs; by default the NOTIFY follows the commit). Row locks serialise
 * writers to one stream, so two appends with the same expectation can never both pass; the
 * loser sees zero rows and gets `ConcurrencyConflict` with the actual version. When the caller
 * chose the event ids, the statement writes nothing if one is stored already, and the store then
 * returns the earlier append (a retry) or `DuplicateEventId`: one round trip on the happy path.
 * The result is built from what the append sent and the positions the rows came back with.
 *
 * A statement that fails because its connection was lost (a terminated backend, a restart) runs
 * again on a fresh connection, outside a transaction only (internal/transient.ts). An append may:
 * its event ids are fixed before the first attempt, and once a connection was lost the statement
 * checks them first, so an append that committed although its answer was lost returns its first
 * result instead of writing twice (or reporting a conflict with itself).
 *
 * Loading a stream is one round trip per page: the stream's row and a page of its events in
 * one query (`StreamNotFound` when there is no row).
 *
 * The global log (internal/readSql.ts) is read in (transaction_id, global_position) order, only
 * below a horizon that open appends hold back: an event whose transaction commits late can never
 * be skipped by a reader that already moved past it. Every append holds an advisory lock of the
 * store in shared mode until its transaction ends, and the horizon is bounded by the xids of that
 * lock's holders, so a transaction that never appends (in this database or another) delays no
 * reader. `transaction_id` is a log-order label, at least the writer's xid and at least the label
 * of the stream's previous append, so every stream appears in the log in version order.
 *
 * Inside a transaction (`sql.withTransaction`, a unit of work) the first append of each
 * transaction level takes that lock in a statement of its own (one more round trip), so that the
 * append's snapshot is taken after the lock is held (internal/appendSql.ts explains why). An
 * append inside a transaction opened some other way (a raw `BEGIN`) should be preceded by
 * {@link lockForAppend}. Under REPEATABLE READ or SERIALIZABLE, append before any other write of
 * the transaction: a transaction there that writes first, then appends, may commit events that a
 * reader which ran in between has already passed.
 *
 * @since 0.1.0
 */
import { CommitSignal, Errors, type EventEnvelope, EventStore, ExpectedVersion, Position } from "@eventline/core"
import { Duration, Effect, Layer, Option, Queue, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as AppendSql from "./internal/appendSql.ts"
import * as ReadSql from "./internal/readSql.ts"
import { isConnectionLoss, retryOnConnectionLoss } from "./internal/transient.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * After one NOTIFY, the next waits this long (the first after a quiet spell goes at once): under
 * load the appends meanwhile share one NOTIFY per stream type instead of sending about one each,
 * a statement of its own and a wake-up of every listener (measured: ~30% of the Node CPU of a
 * one-event append at 8 writers). A reader hears of a commit at most this much later.
 */
const notifySpacing = Duration.millis(5)

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
              retryOnConnectionLoss(sql),
              Effect.catchCause((cause) => Effect.logWarning("NOTIFY failed; readers fall back to polling", cause))
            )
          ).pipe(Effect.andThen(Effect.sleep(notifySpacing)))
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
  const lockText = AppendSql.lockStatement(config.schema)
  // transaction levels (savepoints are levels too) whose statements already run under the lock
  const lockedLevels = new WeakSet<object>()
  /** Inside a transaction, holds the append lock before the append's statement starts. */
  const lockInTransaction: Effect.Effect<void, Errors.InfrastructureError> = Effect.flatMap(
    Effect.serviceOption(sql.transactionService),
    (level) =>
      Option.isNone(level) || lockedLevels.has(level.value)
        ? Effect.void
        : sql
            .unsafe(lockText)
            .raw.pipe(
              Effect.andThen(Effect.sync(() => lockedLevels.add(level.value))),
              Effect.mapError(Errors.infrastructure("append"))
            )
  )

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

  /** Builds what the append stored from what it sent and the positions the rows came back with. */
  const recordedFrom = (
    streamId: string,
    streamType: string,
    withIds: ReadonlyArray<EventStore.IdentifiedEvent>,
    inserted: ReadonlyArray<AppendSql.InsertedRow>
  ): Array<EventEnvelope.RecordedEvent> => {
    const first = (inserted[0] as AppendSql.InsertedRow).version
    const recorded = new Array<EventEnvelope.RecordedEvent>(withIds.length)
    for (let index = 0; index < withIds.length; index++) {
      const row = inserted[index] as AppendSql.InsertedRow
      recorded[index] = EventStore.recordedEvent(withIds[index] as EventStore.IdentifiedEvent, {
        streamId,
        streamType,
        version: first + index,
        position: row.position
      })
    }
    return recorded
  }

  /** Appends in one statement; when it wrote nothing, finds out why (an earlier append, a conflict). */
  const appendOnce = Effect.fnUntraced(function* (
    streamId: string,
    expected: ExpectedVersion.ExpectedVersion,
    options: EventStore.AppendOptions,
    withIds: ReadonlyArray<EventStore.IdentifiedEvent>,
    serialized: ReadonlyArray<EventStore.SerializedEvent>,
    callerGaveIds: boolean
  ): Effect.fn.Return<
    EventStore.AppendResult,
    Errors.ConcurrencyConflict | Errors.DuplicateEventId | Errors.InvalidEvent | Errors.InfrastructureError
  > {
    // the ids are fixed before the first attempt, so the statement may run again after a lost
    // connection: an attempt that committed although its answer was lost is then found by its ids
    let checkIds = callerGaveIds
    const attempt = Effect.suspend(() =>
      appends.append({ streamId, streamType: options.streamType, expected, events: withIds, serialized, checkIds })
    ).pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          if (isConnectionLoss(error)) checkIds = true
        })
      ),
      retryOnConnectionLoss(sql)
    )
    while (true) {
      const inserted = yield* attempt.pipe(
        Effect.catchTag("SqlError", (error) =>
          // undefined: a concurrent append stored these ids first (a retry that raced, or a misuse)
          isEventIdViolation(error) ? Effect.succeed(undefined) : Effect.fail(Errors.infrastructure("append")(error))
        )
      )
      if (inserted === undefined) {
        const earlier = yield* findEarlierAppend(streamId, withIds)
        if (Option.isSome(earlier)) return earlier.value
        return yield* new Errors.DuplicateEventId({ eventId: withIds[0]?.eventId ?? "", streamId })
      }
      if (inserted.length > 0) {
        return EventStore.appendResult(recordedFrom(streamId, options.streamType, withIds, inserted))
      }
      // nothing written: the ids may be stored already (a retry: its first result), else the expectation failed
      if (checkIds) {
        const earlier = yield* findEarlierAppend(streamId, withIds)
        if (Option.isSome(earlier)) return earlier.value
      }
      yield* diagnose(streamId, options.streamType, expected)
    }
  })

  const append = Effect.fnUntraced(function* (
    streamId: string,
    expected: ExpectedVersion.ExpectedVersion,
    events: ReadonlyArray<EventEnvelope.NewEvent>,
    options: EventStore.AppendOptions
  ) {
    const serialized = yield* EventStore.validateAppend(streamId, events, options)
    const callerGaveIds = events.some((event) => event.eventId !== undefined)
    const withIds = yield* EventStore.withEventIds(events)
    yield* lockInTransaction
    const result = yield* appendOnce(streamId, expected, options, withIds, serialized, callerGaveIds)
    // announcements wait for the commit of any transaction the append runs in
    if (Option.isSome(signal) || notifyMode === "after-commit") {
      const committed = { streamType: options.streamType, position: result.lastPosition }
      if (Option.isSome(signal)) yield* sql.afterCommit(signal.value.publish(committed))
      if (notifyMode === "after-commit") yield* sql.afterCommit(Effect.sync(() => notifyLater(committed)))
    }
    return result
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
        const pageSize = EventStore.defaultBatchSize
        const backward = options?.direction === "backward"
        const maxCount = Math.max(options?.maxCount ?? Number.POSITIVE_INFINITY, 0)
        // the first page comes with the stream's head, in one round trip (a stream of one page: one query)
        const limit = Math.min(pageSize, maxCount)
        const from = backward ? options?.from : Math.max(options?.from ?? 1, 1)
        const first = yield* reads.streamPage({ streamId, from, head: undefined, limit, backward })
        if (Option.isNone(first)) return Stream.fail(new Errors.StreamNotFound({ streamId }))
        const { head, events } = first.value
        const nextOf = (page: ReadonlyArray<EventEnvelope.RecordedEvent>, pageLimit: number, remaining: number) => {
          const last = page[page.length - 1]
          return page.length === pageLimit && last !== undefined && remaining > 0
            ? Option.some({ next: backward ? last.version - 1 : last.version + 1, remaining })
            : Option.none()
        }
        // keyset pages bounded by the head seen at the start: memory stays at one page
        const rest = Stream.paginate(nextOf(events, limit, maxCount - events.length), (state) =>
          Effect.gen(function* () {
            if (Option.isNone(state) || (backward ? state.value.next < 1 : state.value.next > head)) {
              return [[], Option.none()] as const
            }
            const { next, remaining } = state.value
            const pageLimit = Math.min(pageSize, remaining)
            const page = yield* reads.streamPage({ streamId, from: next, head, limit: pageLimit, backward })
            const rows = Option.match(page, { onNone: () => [], onSome: (found) => found.events })
            return [rows, Option.some(nextOf(rows, pageLimit, remaining - rows.length))] as const
          })
        )
        return Stream.concat(Stream.fromArray(events), rest)
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
 * Takes the store's append lock (shared, until the transaction ends) on the connection in context.
 * Needed only before appending inside a transaction that was not opened with `sql.withTransaction`
 * (which the store recognises), when that transaction may have written before its first append.
 *
 * @category locking
 * @since 0.3.0
 */
export const lockForAppend: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig
  yield* sql.unsafe(AppendSql.lockStatement(config.schema)).raw
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
