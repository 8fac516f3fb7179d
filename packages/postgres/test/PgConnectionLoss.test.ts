/**
 * Connection loss on real PostgreSQL: backends of the store terminated (pg_terminate_backend) in
 * the middle of reads, appends and LISTEN, and a connection dropped after an append committed but
 * before its answer arrived (a proxy between the store and the server). Every statement is held
 * on the server by a lock of the test until its backend is terminated: no timing involved.
 * Only backends of this file's own databases are terminated.
 */
import { randomUUID } from "node:crypto"
import * as Net from "node:net"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { type EventEnvelope, EventStore, ExpectedVersion, Subscription } from "@eventline/core"
import { Context, Deferred, Effect, Fiber, Layer, Queue, Redacted, References, Schedule, Stream } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import { Migrations, PgEventStore, PgStore, PgStoreConfig } from "../src/index.ts"
import { appendLock } from "../src/internal/appendSql.ts"
import { databaseUrl, postgresAvailable, throwawayDatabase } from "./utils.ts"

const prefix = "h8_connloss"

const event = (type: string, eventId?: string): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data: { type },
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" },
  ...(eventId === undefined ? {} : { eventId })
})

const databaseOf = (url: string): string => new URL(url).pathname.slice(1)
const withPort = (url: string, port: number): string => {
  const parsed = new URL(url)
  parsed.hostname = "127.0.0.1"
  parsed.port = String(port)
  return parsed.toString()
}

/** The admin session: it inspects and terminates backends of `database` only. */
const admin = Effect.map(
  Layer.build(PgClient.layer({ url: Redacted.make(databaseUrl ?? ""), maxConnections: 2 })),
  (context) => Context.get(context, SqlClient.SqlClient)
)

/**
 * Backends of `database` (other than `except`) waiting on a lock of kind `lock` (pg_locks'
 * locktype: "relation", "advisory"), once there are `count` of them.
 */
const waitingOnLock = (sql: SqlClient.SqlClient, database: string, except: number, lock: string, count: number) =>
  sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
    WHERE datname = ${database} AND wait_event_type = 'Lock' AND wait_event = ${lock} AND pid <> ${except}`.pipe(
    Effect.repeat({ until: (rows) => rows.length >= count, schedule: Schedule.spaced("20 millis") }),
    Effect.map((rows) => rows.map((row) => row.pid))
  )

const terminate = (sql: SqlClient.SqlClient, database: string, pids: ReadonlyArray<number>) =>
  Effect.forEach(
    pids,
    (pid) => sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database} AND pid = ${pid}`,
    { discard: true }
  )

/**
 * Holds `statement` (a lock) in a transaction on a session of its own until `release` completes;
 * returns that session's pid once the lock is held.
 */
const holdLock = (url: string, statement: string, release: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const locked = yield* Deferred.make<number>()
    yield* Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe(statement)
          const [row] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
          yield* Deferred.succeed(locked, row?.pid ?? -1)
          yield* Deferred.await(release)
        })
      )
    }).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })),
      Effect.orDie,
      Effect.forkScoped
    )
    return yield* Deferred.await(locked)
  })

const storeOn = (url: string, maxConnections: number) =>
  PgEventStore.layer.pipe(
    Layer.provideMerge(Migrations.layer),
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections }))
  )

const rowCounts = (sql: SqlClient.SqlClient) =>
  sql<{ stream_id: string; events: number; distinct_ids: number }>`SELECT stream_id, count(*)::int AS events,
      count(DISTINCT event_id)::int AS distinct_ids FROM eventline.events GROUP BY stream_id ORDER BY stream_id`

/**
 * A TCP proxy to the server. Armed, it waits for the server's answer to the next statement,
 * up to its ReadyForQuery (the implicit transaction has committed by then), and drops the
 * connection instead of passing the answer on.
 */
const proxy = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.callback<{
      readonly port: number
      readonly arm: () => void
      readonly dropped: () => number
      close: () => void
    }>((resume) => {
      let armed = false
      let dropped = 0
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((client) => {
        const upstream = Net.connect(target.port, target.host)
        sockets.add(client).add(upstream)
        let watching = false
        let held: Array<Buffer> = []
        const drop = () => {
          client.destroy()
          upstream.destroy()
        }
        client.on("data", (chunk: Buffer) => {
          if (armed) {
            armed = false
            watching = true
          }
          upstream.write(chunk)
        })
        upstream.on("data", (chunk: Buffer) => {
          if (!watching) return void client.write(chunk)
          held.push(chunk)
          const answer = Buffer.concat(held)
          // ReadyForQuery: 'Z', length 5, status
          const tail = answer.subarray(answer.length - 6)
          if (tail.length === 6 && tail[0] === 0x5a && tail.readInt32BE(1) === 5) {
            held = []
            watching = false
            dropped++
            drop()
          }
        })
        client.on("error", drop).on("close", drop)
        upstream.on("error", drop).on("close", drop)
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as Net.AddressInfo
        resume(
          Effect.succeed({
            port: address.port,
            arm: () => {
              armed = true
            },
            dropped: () => dropped,
            close: () => {
              for (const socket of sockets) socket.destroy()
              server.close()
            }
          })
        )
      })
    }),
    (running) => Effect.sync(running.close)
  )

describe.skipIf(!postgresAvailable())("PostgreSQL connection loss", () => {
  it.live(
    "reads whose backends are terminated mid-statement answer from a fresh connection",
    () =>
      Effect.gen(function* () {
        const url = yield* throwawayDatabase(databaseUrl ?? "", prefix)
        const database = databaseOf(url)
        const sql = yield* admin
        yield* Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const written = yield* store.append("read-me", ExpectedVersion.NoStream, [event("A"), event("B")], {
            streamType: "Read"
          })
          const release = yield* Deferred.make<void>()
          const blocker = yield* holdLock(
            url,
            "LOCK TABLE eventline.streams, eventline.events IN ACCESS EXCLUSIVE MODE",
            release
          )
          const reads = yield* Effect.all(
            [
              Stream.runCollect(store.readStream("read-me")),
              Stream.runCollect(store.readAll()),
              store.streamVersion("read-me")
            ],
            { concurrency: "unbounded" }
          ).pipe(Effect.forkChild)
          const pids = yield* waitingOnLock(sql, database, blocker, "relation", 3)
          yield* terminate(sql, database, pids)
          yield* Deferred.succeed(release, undefined)
          const [stream, log, version] = yield* Fiber.join(reads)
          assert.deepStrictEqual(stream, written.events)
          assert.deepStrictEqual(log, written.events)
          assert.strictEqual(version, 2)
        }).pipe(Effect.scoped, Effect.provide(storeOn(url, 4)))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "appends whose backends are terminated while they wait, with and without caller ids: each stored once",
    () =>
      Effect.gen(function* () {
        const url = yield* throwawayDatabase(databaseUrl ?? "", prefix)
        const database = databaseOf(url)
        const sql = yield* admin
        yield* Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const { classid, objid } = appendLock("eventline")
          const release = yield* Deferred.make<void>()
          const blocker = yield* holdLock(url, `SELECT pg_advisory_xact_lock(${classid}, ${objid})`, release)
          const ids = [randomUUID(), randomUUID()]
          const appends = yield* Effect.all(
            [
              store.append("with-ids", ExpectedVersion.NoStream, [event("A", ids[0]), event("B", ids[1])], {
                streamType: "Append"
              }),
              store.append("without-ids", ExpectedVersion.NoStream, [event("A"), event("B")], { streamType: "Append" }),
              store.append("any", ExpectedVersion.Any, [event("A"), event("B")], { streamType: "Append" })
            ],
            { concurrency: "unbounded" }
          ).pipe(Effect.forkChild)
          const pids = yield* waitingOnLock(sql, database, blocker, "advisory", 3)
          yield* terminate(sql, database, pids)
          yield* Deferred.succeed(release, undefined)
          const results = yield* Fiber.join(appends)
          for (const result of results) assert.strictEqual(result.nextExpectedVersion, 2)
          assert.deepStrictEqual(
            results[0].events.map((recorded) => recorded.eventId),
            ids
          )
          const stored = yield* rowCounts(yield* SqlClient.SqlClient)
          assert.deepStrictEqual(stored, [
            { stream_id: "any", events: 2, distinct_ids: 2 },
            { stream_id: "with-ids", events: 2, distinct_ids: 2 },
            { stream_id: "without-ids", events: 2, distinct_ids: 2 }
          ])
        }).pipe(Effect.scoped, Effect.provide(storeOn(url, 4)))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "an append that committed but lost its answer returns its first result, with and without caller ids",
    () =>
      Effect.gen(function* () {
        const url = yield* throwawayDatabase(databaseUrl ?? "", prefix)
        const server = new URL(url)
        const relay = yield* proxy({ host: server.hostname, port: Number(server.port || 5432) })
        yield* Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const ids = [randomUUID(), randomUUID()]
          const first = yield* store.append("lost-answer-ids", ExpectedVersion.NoStream, [event("A")], {
            streamType: "Lost"
          })
          relay.arm()
          const withIds = yield* store.append(
            "lost-answer-ids",
            ExpectedVersion.exact(1),
            [event("B", ids[0]), event("C", ids[1])],
            { streamType: "Lost" }
          )
          assert.strictEqual(relay.dropped(), 1)
          yield* store.append("lost-answer-auto", ExpectedVersion.NoStream, [event("A")], { streamType: "Lost" })
          relay.arm()
          const withoutIds = yield* store.append(
            "lost-answer-auto",
            ExpectedVersion.exact(1),
            [event("B"), event("C")],
            {
              streamType: "Lost"
            }
          )
          assert.strictEqual(relay.dropped(), 2)
          assert.strictEqual(first.nextExpectedVersion, 1)
          assert.strictEqual(withIds.nextExpectedVersion, 3)
          assert.deepStrictEqual(
            withIds.events.map((recorded) => recorded.eventId),
            ids
          )
          assert.strictEqual(withoutIds.nextExpectedVersion, 3)
          // what the caller got is what is stored
          assert.deepStrictEqual(
            (yield* Stream.runCollect(store.readStream("lost-answer-auto"))).slice(1),
            withoutIds.events
          )
          assert.deepStrictEqual(yield* rowCounts(sql), [
            { stream_id: "lost-answer-auto", events: 3, distinct_ids: 3 },
            { stream_id: "lost-answer-ids", events: 3, distinct_ids: 3 }
          ])
        }).pipe(
          Effect.scoped,
          Effect.provide(storeOn(withPort(url, relay.port), 1)),
          // no NOTIFY after an append: the proxy's next statement is the append itself
          Effect.provideService(PgStoreConfig.PgStoreConfig, {
            schema: "eventline",
            notifyChannel: "eventline_events",
            notifyMode: "none"
          })
        )
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a subscription sees an append made while its listener was down, as soon as the listener is back",
    () =>
      Effect.gen(function* () {
        const url = yield* throwawayDatabase(databaseUrl ?? "", prefix)
        const database = databaseOf(url)
        const sql = yield* admin
        const listener = sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
          WHERE datname = ${database} AND query LIKE 'LISTEN %'`
        const allowConnections = (allow: boolean) =>
          sql.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS ${allow}`)
        yield* Effect.addFinalizer(() => Effect.orDie(allowConnections(true)))
        yield* Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const seen = yield* Queue.unbounded<string>()
          const seenId = (eventId: string) => Queue.take(seen).pipe(Effect.repeat({ until: (id) => id === eventId }))
          yield* Subscription.start({
            name: "follows-the-listener",
            streamTypes: ["Followed"],
            // only a wake-up can make it read within the test
            pollInterval: "1 hour",
            handle: (recorded) => Queue.offer(seen, recorded.eventId)
          })
          const [before] = yield* listener.pipe(
            Effect.repeat({ until: (rows) => rows.length === 1, schedule: Schedule.spaced("20 millis") })
          )
          const first = yield* store.append("followed", ExpectedVersion.NoStream, [event("A")], {
            streamType: "Followed"
          })
          yield* seenId(first.events[0]?.eventId ?? "")
          // the listener cannot come back until the test lets it
          yield* allowConnections(false)
          yield* terminate(sql, database, [before?.pid ?? -1])
          yield* listener.pipe(
            Effect.repeat({ until: (rows) => rows.length === 0, schedule: Schedule.spaced("20 millis") })
          )
          // its NOTIFY reaches nobody
          const second = yield* store.append("followed", ExpectedVersion.exact(1), [event("B")], {
            streamType: "Followed"
          })
          yield* allowConnections(true)
          // a regression waits for the hour-long poll: fail instead
          yield* seenId(second.events[0]?.eventId ?? "").pipe(Effect.timeout("30 seconds"))
        }).pipe(
          Effect.scoped,
          // every pooled session opened up front: the pool needs no new one while connections are refused
          Effect.provide(PgStore.layer({ url: Redacted.make(url), minConnections: 4, maxConnections: 4 })),
          // the listener's loss is logged (Warn), as it should be: not in the test's output
          Effect.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
        )
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("PgStore.isConnectionLoss", () => {
  const props = (code?: string) => ({
    cause: Object.assign(new Error("from the server"), code === undefined ? {} : { code }),
    message: "m",
    operation: "query"
  })
  const sqlError = (reason: SqlError.SqlErrorReason) => new SqlError.SqlError({ reason })

  it("matches how @effect/sql-pg reports a lost session, and nothing else", () => {
    // a reset or closed socket, a failed connect, SQLSTATE class 08
    assert.isTrue(PgStore.isConnectionLoss(sqlError(new SqlError.ConnectionError(props()))))
    // the server's FATAL message reached the idle session first: the SQLSTATE is on the cause
    for (const code of ["57P01", "57P02", "57P03", "57P05"]) {
      assert.isTrue(PgStore.isConnectionLoss(sqlError(new SqlError.UnknownError(props(code)))), code)
    }
    assert.isFalse(PgStore.isConnectionLoss(sqlError(new SqlError.UnknownError(props("57014")))))
    assert.isFalse(PgStore.isConnectionLoss(sqlError(new SqlError.UnknownError(props()))))
    assert.isFalse(
      PgStore.isConnectionLoss(sqlError(new SqlError.UniqueViolation({ ...props("23505"), constraint: "c" })))
    )
    assert.isFalse(PgStore.isConnectionLoss(sqlError(new SqlError.SerializationError(props("40001")))))
    assert.isFalse(PgStore.isConnectionLoss(new Error("not an SqlError")))
  })
})
