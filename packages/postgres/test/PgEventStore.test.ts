import { assert, describe, layer } from "@effect/vitest"
import { CommitSignal, type EventEnvelope, EventStore, ExpectedVersion, Position } from "@eventline/core"
import { EventStoreConformance, SnapshotStoreConformance, TestEnvironment } from "@eventline/testing"
import { Deferred, Effect, Fiber, Layer, Random, Ref, Result, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { PgCommitSignal, PgEventStore, PgSnapshotStore, PgStoreConfig } from "../src/index.ts"
import { freshDatabase } from "./utils.ts"

const databaseUrl = inject("databaseUrl")
const available = TestEnvironment.isAvailable(
  "PostgreSQL",
  databaseUrl,
  "set DATABASE_URL to a server you may create databases on"
)

const event = (type: string, data: EventEnvelope.NewEvent["data"] = {}): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

const StoreWithSql = () => PgEventStore.layer.pipe(Layer.provideMerge(freshDatabase(databaseUrl ?? "")))

describe.skipIf(!available)("PgEventStore on PostgreSQL 15", () => {
  const database = freshDatabase(databaseUrl ?? "")
  EventStoreConformance.run("PostgreSQL", PgEventStore.layer.pipe(Layer.provide(database)))
  SnapshotStoreConformance.run("PostgreSQL", PgSnapshotStore.layer.pipe(Layer.provide(database)))

  layer(StoreWithSql(), { excludeTestServices: true, timeout: "120 seconds" })("under concurrency", (it) => {
    it.effect(
      "50 fibers on 5 streams with random expected versions: contiguous versions, one winner per version, nothing lost",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streams = ["a", "b", "c", "d", "e"].map((name) => `contended-${name}`)
          // each fiber appends 10 times, guessing the version it expects (often wrongly) and retrying
          const attempts = yield* Effect.forEach(
            Array.from({ length: 50 }, (_, fiber) => fiber),
            (fiber) =>
              Effect.gen(function* () {
                const outcomes: Array<{ stream: string; expected: number; won: boolean; version: number }> = []
                for (let n = 0; n < 10; n++) {
                  const stream = streams[yield* Random.nextIntBetween(0, 4)] as string
                  const current = yield* store.streamVersion(stream)
                  const expected = Math.max(0, current + (yield* Random.nextIntBetween(-1, 1)))
                  const result = yield* Effect.result(
                    store.append(stream, ExpectedVersion.exact(expected), [event("Tick", { fiber, n })], {
                      streamType: "Contended"
                    })
                  )
                  if (Result.isSuccess(result)) {
                    outcomes.push({ stream, expected, won: true, version: result.success.nextExpectedVersion })
                  } else {
                    assert.strictEqual(result.failure._tag, "ConcurrencyConflict")
                    outcomes.push({ stream, expected, won: false, version: -1 })
                  }
                }
                return outcomes
              }),
            { concurrency: "unbounded" }
          ).pipe(Effect.map((all) => all.flat()))

          const wins = attempts.filter((attempt) => attempt.won)
          assert.isAbove(wins.length, 50, "enough appends landed to mean something")
          assert.isAbove(attempts.length - wins.length, 0, "and some lost, so versions really were contested")
          for (const stream of streams) {
            const streamWins = wins.filter((win) => win.stream === stream)
            const versions = streamWins.map((win) => win.version).sort((a, b) => a - b)
            assert.deepStrictEqual(
              versions,
              Array.from({ length: versions.length }, (_, i) => i + 1),
              `${stream}: exactly one winner per version, no gaps`
            )
            for (const win of streamWins) assert.strictEqual(win.version, win.expected + 1)
            const stored = yield* Stream.runCollect(store.readStream(stream))
            assert.deepStrictEqual(
              stored.map((recorded) => recorded.version),
              versions,
              `${stream}: the stream holds exactly the winners`
            )
          }
          const log = yield* EventStoreConformance.readAllVisible({ streamTypes: ["Contended"] }, wins.length)
          assert.strictEqual(log.length, wins.length, "the global log lost nothing and invented nothing")
        }),
      120_000
    )

    it.effect(
      "an append interrupted midway leaves all of its events or none",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const outcomes: Array<number> = []
          // 9000 and 900 events: one statement each (cut short anywhere, it writes nothing)
          for (const size of [9000, 900]) {
            for (const delay of [0, 5, 25, 60, 100, 150, 200, 300, 450, 650]) {
              const streamId = `interrupted-${size}-${delay}`
              const events = Array.from({ length: size }, (_, i) => event("Bulk", { i }))
              const fiber = yield* Effect.forkChild(
                store.append(streamId, ExpectedVersion.NoStream, events, { streamType: "Bulk" })
              )
              yield* Effect.sleep(`${delay} millis`)
              yield* Fiber.interrupt(fiber)
              const version = yield* store.streamVersion(streamId)
              const stored = yield* Stream.runCollect(store.readStream(streamId)).pipe(Effect.orElseSucceed(() => []))
              assert.include([0, size], version, `${streamId}: all or nothing`)
              assert.strictEqual(stored.length, version)
              outcomes.push(version)
            }
          }
          assert.include(outcomes, 0, "some appends were really cut short")
        }),
      120_000
    )

    it.effect(
      "gap safety: a reader never returns an event that committed after an earlier one still in flight",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const streamType = "GapSafety"
          const before = yield* Stream.runCollect(store.readAll({ streamTypes: [streamType] }))
          assert.deepStrictEqual(before, [])

          // A: appends inside a transaction and holds it open
          const appendedA = yield* Deferred.make<void>()
          const commitA = yield* Deferred.make<void>()
          const transactionA = yield* Effect.forkChild(
            sql.withTransaction(
              Effect.gen(function* () {
                yield* store.append("gap-a", ExpectedVersion.NoStream, [event("FromA")], { streamType })
                yield* Deferred.succeed(appendedA, undefined)
                yield* Deferred.await(commitA)
              })
            )
          )
          yield* Deferred.await(appendedA)

          // B: appends on another connection and commits, after A took its position
          const b = yield* store.append("gap-b", ExpectedVersion.NoStream, [event("FromB")], { streamType })
          const whileAOpen = yield* Stream.runCollect(store.readAll({ streamTypes: [streamType] }))
          assert.deepStrictEqual(
            whileAOpen.map((e) => e.type),
            [],
            "B committed, but A (earlier) is still open: B must not be visible yet"
          )
          assert.strictEqual(yield* store.streamVersion("gap-b"), 1, "B is committed and readable by stream")

          yield* Deferred.succeed(commitA, undefined)
          yield* Fiber.join(transactionA)
          const afterA = yield* EventStoreConformance.readAllVisible({ streamTypes: [streamType] }, 2)
          assert.deepStrictEqual(
            afterA.map((e) => e.type),
            ["FromA", "FromB"]
          )
          assert.strictEqual(afterA[1]?.position, b.lastPosition)
          assert.strictEqual(Position.compare(afterA[0]?.position ?? Position.start, b.lastPosition), -1)
        }),
      60_000
    )

    it.effect(
      "headPosition stays below a transaction held open; lastCommittedPosition does not",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const filter = { streamTypes: ["HeldOpen"] }
          assert.strictEqual(yield* store.headPosition(filter), Position.start)

          // A: appends inside a transaction and holds it open
          const appendedA = yield* Deferred.make<void>()
          const commitA = yield* Deferred.make<void>()
          const transactionA = yield* Effect.forkChild(
            sql.withTransaction(
              Effect.gen(function* () {
                yield* store.append("held-a", ExpectedVersion.NoStream, [event("FromA")], { streamType: "HeldOpen" })
                yield* Deferred.succeed(appendedA, undefined)
                yield* Deferred.await(commitA)
              })
            )
          )
          yield* Deferred.await(appendedA)

          // B: commits on another connection after A took its transaction id
          const b = yield* store.append("held-b", ExpectedVersion.NoStream, [event("FromB")], {
            streamType: "HeldOpen"
          })
          assert.strictEqual(yield* store.headPosition(filter), Position.start, "a gap-safe reader cannot see B yet")
          assert.strictEqual(yield* store.lastCommittedPosition(filter), b.lastPosition, "B is committed")
          const backlog = yield* store.countAfter(Position.start, filter)
          assert.strictEqual(backlog.events, 1, "B counts; A is not committed")

          yield* Deferred.succeed(commitA, undefined)
          yield* Fiber.join(transactionA)
          const head = yield* store
            .headPosition(filter)
            .pipe(Effect.repeat({ until: (head) => head === b.lastPosition, schedule: Schedule.spaced("20 millis") }))
          assert.strictEqual(head, b.lastPosition)
          assert.strictEqual(yield* store.lastCommittedPosition(filter), b.lastPosition)
          assert.strictEqual((yield* store.countAfter(Position.start, filter)).events, 2)
        }),
      60_000
    )

    it.effect(
      "gap safety under load: a reader following the log with checkpoints sees every event exactly once",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const streamType = "Followed"
          // writers: some hold their transaction open for a random while after appending
          const writers = Effect.forEach(
            Array.from({ length: 40 }, (_, i) => i),
            (i) =>
              Effect.gen(function* () {
                const hold = yield* Random.nextIntBetween(0, 30)
                const append = store.append(`followed-${i % 8}`, ExpectedVersion.Any, [event("Followed", { i })], {
                  streamType
                })
                yield* i % 3 === 0
                  ? sql.withTransaction(Effect.andThen(append, Effect.sleep(`${hold} millis`)))
                  : Effect.andThen(Effect.sleep(`${hold} millis`), append)
              }),
            { concurrency: 10 }
          )
          // the reader: poll from its checkpoint until it has seen all 40
          const reader = Effect.gen(function* () {
            const seen: Array<string> = []
            let checkpoint = Position.start
            while (seen.length < 40) {
              const page = yield* Stream.runCollect(
                store.readAll({ after: checkpoint, streamTypes: [streamType], batchSize: 7 })
              )
              for (const recorded of page) {
                seen.push(recorded.eventId)
                checkpoint = recorded.position
              }
              yield* Effect.sleep("5 millis")
            }
            return seen
          })
          const [, seen] = yield* Effect.all([writers, reader.pipe(Effect.timeout("30 seconds"))], {
            concurrency: "unbounded"
          })
          const all = yield* Stream.runCollect(store.readAll({ streamTypes: [streamType] }))
          assert.strictEqual(new Set(seen).size, 40, "no event seen twice")
          assert.deepStrictEqual(
            seen,
            all.map((e) => e.eventId),
            "the follower saw exactly the log, in order"
          )
        }),
      60_000
    )
  })

  const commitSignal = (notifyMode: "in-transaction" | "after-commit") =>
    layer(
      Layer.mergeAll(PgEventStore.layer, PgCommitSignal.layer).pipe(
        Layer.provide(freshDatabase(databaseUrl ?? "")),
        Layer.provide(
          Layer.succeed(PgStoreConfig.PgStoreConfig, {
            schema: "eventline",
            notifyChannel: "eventline_events",
            notifyMode
          })
        )
      ),
      { excludeTestServices: true, timeout: "120 seconds" }
    )(`commit signal (NOTIFY ${notifyMode})`, (it) => {
      it.effect(
        "an append's NOTIFY reaches LISTENers after commit, carrying the stream type and last position",
        () =>
          Effect.gen(function* () {
            const store = yield* EventStore.EventStore
            const signal = yield* CommitSignal.CommitSignal
            const positions = yield* Ref.make<ReadonlyArray<string>>([])
            const first = yield* Effect.forkChild(Stream.runHead(signal.changes))
            // keep appending until the listener (which starts asynchronously) hears one
            const appender = yield* Effect.forkChild(
              store
                .append("signalled", ExpectedVersion.Any, [event("Pinged"), event("Pinged")], {
                  streamType: "Signalled"
                })
                .pipe(
                  Effect.flatMap((result) => Ref.update(positions, (all) => [...all, result.lastPosition])),
                  Effect.repeat(Schedule.spaced("50 millis"))
                )
            )
            const heard = yield* Fiber.join(first).pipe(Effect.timeout("10 seconds"))
            assert.strictEqual(heard._tag, "Some")
            if (heard._tag === "Some") {
              assert.strictEqual(heard.value.streamType, "Signalled")
              // the notification may overtake the append's reply: wait for the appender to record it
              const recorded = yield* Ref.get(positions).pipe(
                Effect.repeat({
                  until: (all) => all.includes(heard.value.position),
                  schedule: Schedule.spaced("10 millis")
                }),
                Effect.timeout("5 seconds")
              )
              assert.include(recorded, heard.value.position)
            }
            yield* Fiber.interrupt(appender)
          }),
        30_000
      )
    })
  commitSignal("in-transaction")
  commitSignal("after-commit")
})
