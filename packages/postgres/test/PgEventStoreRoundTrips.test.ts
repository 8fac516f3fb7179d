import { assert, describe, layer } from "@effect/vitest"
import { type EventEnvelope, EventStore, ExpectedVersion, Uuid } from "@eventline/core"
import { Effect, Layer, Stream } from "effect"
import { SqlClient } from "effect/sql"
import * as Statement from "effect/sql/Statement"
import { Migrations, PgEventStore, PgliteClient } from "../src/index.ts"
import { databaseUrl, freshDatabase, postgresAvailable } from "./utils.ts"

const event = (n: number): EventEnvelope.NewEvent => ({
  type: "Tick",
  schemaVersion: 1,
  data: { n },
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

/** The statements `effect` sent (each is one round trip), with its result. */
const counted = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    let statements = 0
    const count: Statement.Transformer = (self) =>
      Effect.sync(() => {
        statements++
        return self
      })
    const result = yield* effect.pipe(Effect.provideService(Statement.CurrentTransformer, count))
    return { result, statements }
  })

/** What a command handler does per command: load the stream, append; one statement each. */
const roundTrips = (name: string, store: Layer.Layer<EventStore.EventStore | SqlClient.SqlClient>) =>
  layer(store, { excludeTestServices: true, timeout: "60 seconds" })(`round trips on ${name}`, (it) => {
    it.effect("an append is one statement, with or without the caller's event ids, for any number of events", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const one = yield* counted(store.append("rt-1", ExpectedVersion.NoStream, [event(1)], { streamType: "T" }))
        assert.strictEqual(one.statements, 1)
        const many = Array.from({ length: 5000 }, (_, n) => event(n))
        const big = yield* counted(store.append("rt-1", ExpectedVersion.exact(1), many, { streamType: "T" }))
        assert.strictEqual(big.statements, 1)
        assert.strictEqual(big.result.nextExpectedVersion, 5001)
        assert.deepStrictEqual(
          big.result.events.map((recorded) => recorded.version),
          many.map((_, n) => n + 2)
        )
        const ids = [Uuid.fromParts("rt", 1), Uuid.fromParts("rt", 2)]
        const withIds = ids.map((eventId, n) => ({ ...event(n), eventId }))
        const first = yield* counted(store.append("rt-2", ExpectedVersion.NoStream, withIds, { streamType: "T" }))
        assert.strictEqual(first.statements, 1)
        // a retry finds the first result (the statement writes nothing, then one lookup)
        const retry = yield* counted(store.append("rt-2", ExpectedVersion.NoStream, withIds, { streamType: "T" }))
        assert.deepStrictEqual(retry.result.events, first.result.events)
        assert.strictEqual(yield* store.streamVersion("rt-2"), 2)
      })
    )

    it.effect(
      "inside a transaction the first append also takes the append lock (one statement more), later ones do not",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const inTransaction = yield* counted(
            sql.withTransaction(
              Effect.gen(function* () {
                const first = yield* counted(
                  store.append("rt-4", ExpectedVersion.NoStream, [event(1)], { streamType: "T" })
                )
                const second = yield* counted(
                  store.append("rt-5", ExpectedVersion.NoStream, [event(1)], { streamType: "T" })
                )
                return [first.statements, second.statements]
              })
            )
          )
          assert.deepStrictEqual(inTransaction.result, [2, 1])
        })
    )

    it.effect("loading a stream of one page is one statement; a missing stream is one statement too", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        yield* store.append(
          "rt-3",
          ExpectedVersion.NoStream,
          Array.from({ length: 100 }, (_, n) => event(n)),
          { streamType: "T" }
        )
        const loaded = yield* counted(Stream.runCollect(store.readStream("rt-3")))
        assert.strictEqual(loaded.statements, 1)
        assert.deepStrictEqual(
          loaded.result.map((recorded) => recorded.version),
          Array.from({ length: 100 }, (_, n) => n + 1)
        )
        const backward = yield* counted(
          Stream.runCollect(store.readStream("rt-3", { direction: "backward", maxCount: 3 }))
        )
        assert.strictEqual(backward.statements, 1)
        assert.deepStrictEqual(
          backward.result.map((recorded) => recorded.version),
          [100, 99, 98]
        )
        const missing = yield* counted(Effect.flip(Stream.runCollect(store.readStream("rt-missing"))))
        assert.strictEqual(missing.result._tag, "StreamNotFound")
        assert.strictEqual(missing.statements, 1)
      })
    )
  })

describe("PgEventStore round trips", () => {
  roundTrips(
    "PGlite",
    PgEventStore.layer.pipe(
      Layer.provideMerge(Migrations.layer.pipe(Layer.provideMerge(PgliteClient.layer()))),
      Layer.orDie
    )
  )
  describe.skipIf(!postgresAvailable())("PostgreSQL", () => {
    roundTrips("PostgreSQL", PgEventStore.layer.pipe(Layer.provideMerge(freshDatabase(databaseUrl ?? "")), Layer.orDie))
  })
})
