/**
 * The horizon of the global log: only transactions that append to this store hold readers back.
 * A transaction held open in another database of the server, or one in the same database that
 * never appends, must not delay them; an append held open still must (the gap tests in
 * PgEventStore.test.ts); and a transaction that got its xid before appending must not be skipped
 * by a reader that ran in between.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, layer } from "@effect/vitest"
import { type EventEnvelope, EventStore, ExpectedVersion, Position } from "@eventline/core"
import { Context, Deferred, Effect, Fiber, Layer, Redacted, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { Migrations, PgEventStore, PgHealth } from "../src/index.ts"
import { appendLock } from "../src/internal/appendSql.ts"
import { databaseUrl, postgresAvailable, throwawayDatabase } from "./utils.ts"

const event = (n: number): EventEnvelope.NewEvent => ({
  type: "Tick",
  schemaVersion: 1,
  data: { n },
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

const clientOf = (url: string) => PgClient.layer({ url: Redacted.make(url), maxConnections: 8 })

/** The store on a fresh database. */
const StoreWithSql = Layer.unwrap(
  Effect.map(throwawayDatabase(databaseUrl ?? "", "h3_horizon"), (url) =>
    PgEventStore.layer.pipe(Layer.provideMerge(Migrations.layer.pipe(Layer.provideMerge(clientOf(url)))))
  )
).pipe(Layer.orDie)

/**
 * Runs `body` while a transaction of `sql` with a transaction id (it got one, then waits) is
 * open; the transaction ends only after `body` did, so whatever `body` observed, it observed
 * while the transaction was open.
 */
const whileHeldOpen = <A, E, R>(
  sql: SqlClient.SqlClient,
  body: (holder: { readonly pid: number }) => Effect.Effect<A, E, R>,
  work: Effect.Effect<unknown, unknown, SqlClient.SqlClient> = sql`SELECT pg_current_xact_id()::text`
) =>
  Effect.gen(function* () {
    const opened = yield* Deferred.make<number, unknown>()
    const release = yield* Deferred.make<void>()
    const holder = yield* sql
      .withTransaction(
        Effect.gen(function* () {
          yield* Effect.provideService(work, SqlClient.SqlClient, sql)
          const rows = yield* sql`SELECT pg_backend_pid() AS pid`
          yield* Deferred.succeed(opened, Number(rows[0]?.pid))
          yield* Deferred.await(release)
          // still open here: the body ran before this point
          const still = yield* sql`SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS open`
          return still[0]?.open === true
        })
      )
      // a failure before it opened ends the wait too
      .pipe(
        Effect.tapCause((cause) => Deferred.failCause(opened, cause)),
        Effect.forkChild
      )
    const pid = yield* Deferred.await(opened)

    const result = yield* Effect.exit(body({ pid }))
    yield* Deferred.succeed(release, undefined)
    const stillOpen = yield* Fiber.join(holder)
    assert.isTrue(stillOpen, "the transaction was open until the body had run")
    return yield* result
  })

/** Reads the log of `streamType` after `after` until an event with `eventId` shows up. */
const readUntilSeen = (streamType: string, eventId: string, after: Position.Position = Position.start) =>
  EventStore.EventStore.use((store) =>
    Stream.runCollect(store.readAll({ after, streamTypes: [streamType] })).pipe(
      Effect.repeat({
        until: (events) => events.some((recorded) => recorded.eventId === eventId),
        schedule: Schedule.spaced("20 millis")
      }),
      // a bound for the old behaviour (it never sees the event while the transaction is open), not a measurement
      Effect.timeout("20 seconds")
    )
  )

describe.skipIf(!postgresAvailable())("PgEventStore horizon on PostgreSQL", () => {
  layer(StoreWithSql, { excludeTestServices: true, timeout: "120 seconds" })("horizon", (it) => {
    it.effect("a transaction held open in another database of the server does not delay readers", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        // a second database of the same server, with a client of its own, both gone with the test
        const url = yield* throwawayDatabase(databaseUrl ?? "", "h3_other")
        const foreign = yield* Layer.build(clientOf(url)).pipe(
          Effect.map((context) => Context.get(context, SqlClient.SqlClient))
        )
        const seen = yield* whileHeldOpen(foreign, () =>
          Effect.gen(function* () {
            const appended = yield* store.append("foreign-1", ExpectedVersion.NoStream, [event(1)], {
              streamType: "Foreign"
            })
            const log = yield* readUntilSeen("Foreign", appended.events[0]?.eventId ?? "")

            const head = yield* store.headPosition({ streamTypes: ["Foreign"] }).pipe(
              Effect.repeat({
                until: (head) => head === appended.lastPosition,
                schedule: Schedule.spaced("20 millis")
              })
            )
            assert.strictEqual(head, appended.lastPosition)
            return log
          })
        )
        assert.deepStrictEqual(
          seen.map((recorded) => recorded.streamId),
          ["foreign-1"]
        )
      }).pipe(Effect.scoped)
    )

    it.effect("a transaction of the same database that never appends does not delay readers", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE side_table (n int)`
        const seen = yield* whileHeldOpen(
          sql,
          () =>
            Effect.gen(function* () {
              const appended = yield* store.append("bystander-1", ExpectedVersion.NoStream, [event(1)], {
                streamType: "Bystander"
              })
              return yield* readUntilSeen("Bystander", appended.events[0]?.eventId ?? "")
            }),
          // it writes (so it has a transaction id older than the append's), but to another table
          sql`INSERT INTO side_table VALUES (1)`
        )
        assert.deepStrictEqual(
          seen.map((recorded) => recorded.streamId),
          ["bystander-1"]
        )
      })
    )

    it.effect("a transaction that wrote before appending is not skipped by a reader that ran in between", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE early_writes (n int)`
        const streamType = "Early"
        const wrote = yield* Deferred.make<void>()
        const append = yield* Deferred.make<void>()
        // the early transaction: a write (its transaction id is now older than the next append's),
        // then, after a reader has moved past a later append, its own append
        const early = yield* sql
          .withTransaction(
            Effect.gen(function* () {
              yield* sql`INSERT INTO early_writes VALUES (1)`
              yield* Deferred.succeed(wrote, undefined)
              yield* Deferred.await(append)
              return yield* store.append("early-a", ExpectedVersion.NoStream, [event(1)], { streamType })
            })
          )
          .pipe(Effect.forkChild)
        yield* Deferred.await(wrote)
        const later = yield* store.append("early-b", ExpectedVersion.NoStream, [event(2)], { streamType })
        // a follower reads up to the later append and keeps its checkpoint there
        const first = yield* readUntilSeen(streamType, later.events[0]?.eventId ?? "")
        const checkpoint = (first[first.length - 1] as EventEnvelope.RecordedEvent).position
        assert.strictEqual(checkpoint, later.lastPosition)
        yield* Deferred.succeed(append, undefined)
        const earlier = yield* Fiber.join(early)
        assert.strictEqual(
          Position.compare(later.lastPosition, earlier.lastPosition),
          -1,
          "the early transaction's append sorts after what the follower already read"
        )
        const rest = yield* readUntilSeen(streamType, earlier.events[0]?.eventId ?? "", checkpoint)
        assert.deepStrictEqual(
          rest.map((recorded) => recorded.streamId),
          ["early-a"]
        )
      })
    )

    it.effect(
      "a transaction that wrote first and then waited for the append lock still sorts after what a reader passed meanwhile",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const { classid, objid } = appendLock("eventline")
          yield* sql`CREATE TABLE waited_writes (n int)`
          const streamType = "Waited"
          // waiters on the append lock, by mode; polled until the scene is set (no clock involved)
          const waiting = (mode: string) =>
            sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
              AND classid = ${classid} AND objid = ${objid} AND mode = ${mode}`.pipe(
              Effect.repeat({ until: (rows) => Number(rows[0]?.n) > 0, schedule: Schedule.spaced("10 millis") }),
              Effect.timeout("20 seconds")
            )
          const signals = {
            tWrote: yield* Deferred.make<void>(),
            tGo: yield* Deferred.make<void>(),
            wLocked: yield* Deferred.make<void>(),
            wGo: yield* Deferred.make<void>(),
            xGranted: yield* Deferred.make<void>(),
            xRelease: yield* Deferred.make<void>()
          }
          // T: writes (its transaction id is now old), then appends, which waits for the lock
          const t = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql`INSERT INTO waited_writes VALUES (1)`
                yield* Deferred.succeed(signals.tWrote, undefined)
                yield* Deferred.await(signals.tGo)
                return yield* store.append("waited-t", ExpectedVersion.NoStream, [event(1)], { streamType })
              })
            )
            .pipe(Effect.forkChild)
          yield* Deferred.await(signals.tWrote)
          // W: holds the lock (shared) without a transaction id yet; appends later
          const w = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* PgEventStore.lockForAppend
                yield* Deferred.succeed(signals.wLocked, undefined)
                yield* Deferred.await(signals.wGo)
                return yield* store.append("waited-w", ExpectedVersion.NoStream, [event(2)], { streamType })
              })
            )
            .pipe(Effect.forkChild)
          yield* Deferred.await(signals.wLocked)
          // X: asks for the lock exclusively, so it queues behind W and T's request queues behind X
          const x = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql`SELECT pg_advisory_xact_lock(${classid}, ${objid})`
                yield* Deferred.succeed(signals.xGranted, undefined)
                yield* Deferred.await(signals.xRelease)
              })
            )
            .pipe(Effect.forkChild)
          yield* waiting("ExclusiveLock")
          yield* Deferred.succeed(signals.tGo, undefined)
          yield* waiting("ShareLock")
          // W appends (its transaction id is newer than anything T's append could have seen) and commits
          yield* Deferred.succeed(signals.wGo, undefined)
          const appendedW = yield* Fiber.join(w)
          yield* Deferred.await(signals.xGranted)
          // a reader passes W while T still waits
          const first = yield* readUntilSeen(streamType, appendedW.events[0]?.eventId ?? "")
          assert.deepStrictEqual(
            first.map((recorded) => recorded.streamId),
            ["waited-w"]
          )
          const checkpoint = appendedW.lastPosition
          yield* Deferred.succeed(signals.xRelease, undefined)
          yield* Fiber.join(x)
          const appendedT = yield* Fiber.join(t)
          assert.strictEqual(Position.compare(checkpoint, appendedT.lastPosition), -1, "T sorts after W")
          const rest = yield* readUntilSeen(streamType, appendedT.events[0]?.eventId ?? "", checkpoint)
          assert.deepStrictEqual(
            rest.map((recorded) => recorded.streamId),
            ["waited-t"]
          )
        })
    )

    it.effect("lockForAppend makes a transaction an appender that readers wait for", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const check = yield* PgHealth.appendsHeldOpen({ olderThan: "0 millis" })
        // a transaction that wrote, then took the lock as a raw BEGIN ... would before appending
        const appended = yield* whileHeldOpen(
          sql,
          ({ pid }) =>
            Effect.gen(function* () {
              // before any append: the lock alone makes it a holder
              assert.include((yield* check.run)?.degraded ?? "", `pid ${pid} (`)
              const later = yield* store.append("locked-1", ExpectedVersion.NoStream, [event(1)], {
                streamType: "Locked"
              })
              assert.deepStrictEqual(yield* Stream.runCollect(store.readAll({ streamTypes: ["Locked"] })), [])
              return later
            }),
          Effect.andThen(sql`SELECT pg_current_xact_id()::text`, PgEventStore.lockForAppend)
        )
        const log = yield* readUntilSeen("Locked", appended.events[0]?.eventId ?? "")
        assert.deepStrictEqual(
          log.map((recorded) => recorded.streamId),
          ["locked-1"]
        )
      })
    )

    it.effect("an appending transaction held open holds readers back, and health names it as degraded", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const check = yield* PgHealth.appendsHeldOpen({ olderThan: "0 millis" })
        assert.strictEqual(yield* check.run, undefined, "no append open yet")
        const appendHeld = store.append("held-1", ExpectedVersion.NoStream, [event(1)], { streamType: "Held" })
        yield* whileHeldOpen(
          sql,
          ({ pid }) =>
            Effect.gen(function* () {
              yield* store.append("held-2", ExpectedVersion.NoStream, [event(2)], {
                streamType: "Held"
              })
              const log = yield* Stream.runCollect(store.readAll({ streamTypes: ["Held"] }))
              assert.deepStrictEqual(log, [], "the later append waits behind the open one")
              assert.strictEqual(yield* store.headPosition({ streamTypes: ["Held"] }), Position.start)
              const outcome = yield* check.run
              assert.isDefined(outcome)
              assert.include(outcome?.degraded ?? "", `pid ${pid} (`)
            }),
          appendHeld
        )
        const log = yield* EventStore.EventStore.use((store) =>
          Stream.runCollect(store.readAll({ streamTypes: ["Held"] })).pipe(
            Effect.repeat({ until: (log) => log.length >= 2, schedule: Schedule.spaced("20 millis") }),
            Effect.timeout("20 seconds")
          )
        )
        assert.deepStrictEqual(
          log.map((recorded) => recorded.streamId),
          ["held-1", "held-2"]
        )
        assert.strictEqual(yield* check.run, undefined, "nothing open any more")
      })
    )
  })
})
