import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { CommitSignal, type EventEnvelope, EventStore, ExpectedVersion, Subscription } from "@eventline/core"
import { EventStoreConformance, SnapshotStoreConformance, TestEnvironment } from "@eventline/testing"
import { ConfigProvider, Effect, Fiber, Option, Redacted, Ref, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { PgStore } from "../src/index.ts"
import { throwawayDatabase } from "./utils.ts"

const event = (type: string, data: EventEnvelope.NewEvent["data"] = {}): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

// the embedded store: the same SQL as PostgreSQL, on PGlite in this process
EventStoreConformance.run("PGlite (embedded)", PgStore.layerEmbedded())
SnapshotStoreConformance.run("PGlite (embedded)", PgStore.layerEmbedded())

describe("PgStore.layerEmbedded", () => {
  it.live(
    "keeps its data in a directory across restarts, and signals commits in-process",
    () =>
      Effect.gen(function* () {
        const dataDir = join(
          yield* Effect.promise(() => mkdtemp(join(tmpdir(), "eventline-pglite-"))),
          "nested",
          "data"
        )
        yield* Effect.addFinalizer(() =>
          Effect.promise(() => rm(join(dataDir, "..", ".."), { recursive: true, force: true }))
        )
        const firstRun = Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const signal = yield* CommitSignal.CommitSignal
          const heard = yield* Effect.forkChild(Stream.runHead(signal.changes))
          yield* Effect.yieldNow
          const result = yield* store.append("kept", ExpectedVersion.NoStream, [event("Kept", { n: 1 })], {
            streamType: "Durable"
          })
          const announced = yield* Fiber.join(heard)
          assert.deepStrictEqual(announced._tag === "Some" ? announced.value : undefined, {
            streamType: "Durable",
            position: result.lastPosition
          })
          return result
        }).pipe(Effect.provide(PgStore.layerEmbedded({ dataDir })))
        const written = yield* firstRun

        const secondRun = Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const read = yield* Stream.runCollect(store.readStream("kept"))
          assert.deepStrictEqual(read, written.events)
          const next = yield* store.append("kept", ExpectedVersion.exact(1), [event("Kept", { n: 2 })], {
            streamType: "Durable"
          })
          assert.strictEqual(next.nextExpectedVersion, 2)
          const log = yield* Stream.runCollect(store.readAll({ streamTypes: ["Durable"] }))
          assert.deepStrictEqual(
            log.map((e) => e.version),
            [1, 2]
          )
        }).pipe(Effect.provide(PgStore.layerEmbedded({ dataDir })))
        yield* secondRun
      }),
    120_000
  )
})

const databaseUrl = inject("databaseUrl")

describe("PgStore.layerFromConfig", () => {
  const currentDatabase = Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ readonly name: string }>`SELECT current_database() AS name`, (rows) => rows[0]?.name)
  )
  it.live("without DATABASE_URL: the embedded store, in memory", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const result = yield* store.append("configured", ExpectedVersion.NoStream, [event("Configured")], {
        streamType: "Configured"
      })
      assert.strictEqual(result.nextExpectedVersion, 1)
      assert.notInclude(yield* currentDatabase, "eventline_config")
    }).pipe(
      Effect.provide(PgStore.layerFromConfig()),
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))
    )
  )

  it.live.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))(
    "with DATABASE_URL: PostgreSQL, migrated",
    () =>
      Effect.gen(function* () {
        const url = yield* throwawayDatabase(databaseUrl ?? "", "eventline_config")
        yield* Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          yield* store.append("configured", ExpectedVersion.NoStream, [event("Configured")], {
            streamType: "Configured"
          })
          assert.include(yield* currentDatabase, "eventline_config")
        }).pipe(
          Effect.provide(PgStore.layerFromConfig()),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ DATABASE_URL: url })))
        )
      })
  )
})

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))("PgStore.layer", () => {
  // the LISTEN used to reserve the pool's only connection: the first append then waited forever
  it.live(
    "a pool of one connection appends, reads, hears its NOTIFY, and a subscription follows",
    () =>
      Effect.gen(function* () {
        const url = yield* throwawayDatabase(databaseUrl ?? "", "eventline_pool1")
        yield* Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const signal = yield* CommitSignal.CommitSignal
          const first = yield* store.append("solo", ExpectedVersion.NoStream, [event("A"), event("A")], {
            streamType: "Solo"
          })
          assert.deepStrictEqual(yield* Stream.runCollect(store.readStream("solo")), first.events)
          const handled = yield* Ref.make(0)
          yield* Subscription.start({
            name: "solo-follower",
            streamTypes: ["Solo"],
            handle: () => Ref.update(handled, (n) => n + 1)
          })
          // visibility can lag the commit a little (an append of another fiber still open);
          // the NOTIFY does not wait for it
          const reaches = (count: number) =>
            Ref.get(handled).pipe(
              Effect.repeat({ until: (n) => n >= count, schedule: Schedule.spaced("20 millis") }),
              Effect.timeout("25 seconds")
            )
          yield* reaches(2)
          const heard = yield* Effect.forkChild(
            Stream.runHead(Stream.filter(signal.changes, (committed) => committed.streamType === "Solo"))
          )
          yield* Effect.yieldNow
          const second = yield* store.append("solo", ExpectedVersion.exact(2), [event("B")], { streamType: "Solo" })
          const announced = yield* Fiber.join(heard).pipe(Effect.timeout("10 seconds"))
          assert.deepStrictEqual(
            Option.map(announced, (committed) => committed.position),
            Option.some(second.lastPosition)
          )
          yield* reaches(3)
          assert.strictEqual(yield* Ref.get(handled), 3)
        }).pipe(
          Effect.scoped,
          Effect.provide(PgStore.layer({ url: Redacted.make(url), maxConnections: 1 })),
          // a regression hangs: fail instead
          Effect.timeout("50 seconds")
        )
      }),
    70_000
  )
})
