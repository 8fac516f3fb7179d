/**
 * The global log keeps every stream in version order (a projection folds it that way), also when
 * the appends come from transactions that got their transaction id before appending (a process
 * manager's unit of work, or `sql.withTransaction` around other writes).
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, layer } from "@effect/vitest"
import { type EventEnvelope, EventStore, ExpectedVersion, Position } from "@eventline/core"
import { Deferred, Effect, Fiber, Layer, Random, Redacted, Result, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { Migrations, PgEventStore } from "../src/index.ts"
import { databaseUrl, postgresAvailable, throwawayDatabase } from "./utils.ts"

const event = (n: number): EventEnvelope.NewEvent => ({
  type: "Tick",
  schemaVersion: 1,
  data: { n },
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

/** The store on a fresh database, with a pool big enough for every writer to hold a connection. */
const StoreWithSql = Layer.unwrap(
  Effect.map(throwawayDatabase(databaseUrl ?? "", "f_log_order"), (url) =>
    PgEventStore.layer.pipe(
      Layer.provideMerge(
        Migrations.layer.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 16 })))
      )
    )
  )
).pipe(Layer.orDie)

/**
 * Each stream's versions in the order the global log (of these stream types) hands them out, once
 * all `events` are visible: the log stops below the oldest append still open, so the tail can show
 * up a little after the commit.
 */
const versionsInLogOrder = (streamTypes: ReadonlyArray<string>, events: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const log = yield* Stream.runCollect(store.readAll({ streamTypes, batchSize: 50 })).pipe(
      Effect.repeat({ until: (log) => log.length >= events, schedule: Schedule.spaced("10 millis") }),
      Effect.timeout("20 seconds")
    )
    const byStream = new Map<string, Array<number>>()
    for (const recorded of log) {
      const versions = byStream.get(recorded.streamId) ?? []
      versions.push(recorded.version)
      byStream.set(recorded.streamId, versions)
    }
    return { log, byStream }
  })

const oneToN = (n: number) => Array.from({ length: n }, (_, index) => index + 1)

const expectations = {
  Exact: ExpectedVersion.exact(2),
  Any: ExpectedVersion.Any,
  StreamExists: ExpectedVersion.StreamExists
} as const

describe.skipIf(!postgresAvailable())("PgEventStore log order on PostgreSQL", () => {
  layer(StoreWithSql, { excludeTestServices: true, timeout: "120 seconds" })("log order", (it) => {
    it.effect(
      "an append from a transaction that got its id earlier still follows the stream's earlier versions in the log",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const reported: Array<readonly [string, EventStore.AppendResult, EventStore.AppendResult]> = []
          for (const [kind, expected] of Object.entries(expectations)) {
            const stream = `Inventory-${kind}`
            yield* store.append(stream, ExpectedVersion.NoStream, [event(1)], { streamType: "Inventory" })
            const hasTransactionId = yield* Deferred.make<void>()
            const laterAppendCommitted = yield* Deferred.make<void>()
            // the early transaction writes first (its id is now smaller than any later writer's),
            // then appends version 3 after another connection committed version 2
            const early = yield* sql
              .withTransaction(
                Effect.gen(function* () {
                  yield* store.append(`Other-${kind}`, ExpectedVersion.NoStream, [event(0)], { streamType: "Other" })
                  yield* Deferred.succeed(hasTransactionId, undefined)
                  yield* Deferred.await(laterAppendCommitted)
                  return yield* store.append(stream, expected, [event(3)], { streamType: "Inventory" })
                })
              )
              .pipe(Effect.forkChild)
            yield* Deferred.await(hasTransactionId)
            const second = yield* store.append(stream, ExpectedVersion.exact(1), [event(2)], {
              streamType: "Inventory"
            })
            yield* Deferred.succeed(laterAppendCommitted, undefined)
            const third = yield* Fiber.join(early)
            assert.strictEqual(third.nextExpectedVersion, 3)
            reported.push([kind, second, third])
          }
          const { log, byStream } = yield* versionsInLogOrder(["Inventory"], 3 * Object.keys(expectations).length)
          for (const kind of Object.keys(expectations)) {
            assert.deepStrictEqual(byStream.get(`Inventory-${kind}`), [1, 2, 3], `${kind}: versions in log order`)
          }
          // the positions the appends reported are in the same order
          for (const [kind, second, third] of reported) {
            assert.strictEqual(Position.compare(second.lastPosition, third.lastPosition), -1, `${kind}: positions`)
          }
          // what readAll hands out is what the appends reported, in increasing position order
          for (let index = 1; index < log.length; index++) {
            const previous = log[index - 1] as EventEnvelope.RecordedEvent
            assert.strictEqual(
              Position.compare(previous.position, (log[index] as EventEnvelope.RecordedEvent).position),
              -1
            )
          }
        })
    )

    it.effect(
      "many writers racing on few streams, new ones included: every stream's versions appear in the log in order, without gaps",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const trials = 150
          const writers = 12
          const streamsPerTrial = 4
          for (let trial = 0; trial < trials; trial++) {
            const streamType = `Stress${trial}`
            const streams = Array.from({ length: streamsPerTrial }, (_, n) => `stress-${trial}-${n}`)
            const go = yield* Deferred.make<void>()
            const racing = yield* Effect.forEach(
              oneToN(writers),
              (writer) =>
                Effect.gen(function* () {
                  yield* Deferred.await(go)
                  for (let n = 0; n < 3; n++) {
                    const stream = streams[(writer + n) % streamsPerTrial] as string
                    const pick = yield* Random.nextIntBetween(0, 9)
                    // first Any (writers race to insert each new stream's row), then a mix with conflicts
                    const expected =
                      n === 0 || pick < 6
                        ? ExpectedVersion.Any
                        : pick < 8
                          ? ExpectedVersion.NoStream
                          : ExpectedVersion.exact(yield* store.streamVersion(stream))
                    const result = yield* Effect.result(store.append(stream, expected, [event(n)], { streamType }))
                    if (Result.isFailure(result)) assert.strictEqual(result.failure._tag, "ConcurrencyConflict")
                  }
                }),
              { concurrency: "unbounded" }
            ).pipe(Effect.forkChild)
            yield* Deferred.succeed(go, undefined)
            yield* Fiber.join(racing)
            const heads = yield* Effect.forEach(streams, store.streamVersion)
            const { byStream } = yield* versionsInLogOrder(
              [streamType],
              heads.reduce((sum, head) => sum + head, 0)
            )
            streams.forEach((stream, index) => {
              assert.deepStrictEqual(byStream.get(stream), oneToN(heads[index] as number), `${stream} in log order`)
            })
          }
        })
    )
  })
})
