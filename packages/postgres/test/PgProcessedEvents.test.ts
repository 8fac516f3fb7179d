/**
 * `PgProcessedEvents` against the `ProcessedEvents` conformance suite on PGlite and PostgreSQL,
 * plus what only SQL gives: a redelivered event's SQL side effect is applied once, a failed
 * side effect's SQL is rolled back with its mark (so a retry applies it), concurrent deliveries
 * are serialised by the primary key, consumers are independent, and the table lives in the
 * store's schema.
 */
import { randomUUID } from "node:crypto"
import { assert, describe, layer } from "@effect/vitest"
import { ProcessedEvents } from "@eventline/core"
import { ProcessedEventsConformance } from "@eventline/testing"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { Migrations, PgProcessedEvents, PgStore, PgStoreConfig } from "../src/index.ts"
import { databaseUrl, freshDatabase, postgresAvailable } from "./utils.ts"

const available = postgresAvailable()

ProcessedEventsConformance.run(
  "PGlite (embedded)",
  PgProcessedEvents.layer.pipe(Layer.provide(PgStore.layerEmbedded()))
)

/** A second store schema, `inbox`, migrated beside the default one. */
const inboxConfig = { schema: "inbox", notifyChannel: "inbox_events" }
const withInboxSchema = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, PgStoreConfig.PgStoreConfig, inboxConfig)

/** The side effect under test: a row per application, so duplicates would show. */
const SideEffects = Layer.effectDiscard(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE applied (id serial PRIMARY KEY, event_id uuid NOT NULL, consumer text NOT NULL)`
    yield* withInboxSchema(Migrations.run)
  })
)

const Database = () =>
  Layer.mergeAll(PgProcessedEvents.layer, SideEffects).pipe(Layer.provideMerge(freshDatabase(databaseUrl ?? "")))

const apply = (consumer: string, eventId: string) =>
  SqlClient.SqlClient.use((sql) => sql`INSERT INTO applied (event_id, consumer) VALUES (${eventId}, ${consumer})`)

const applied = (eventId: string) =>
  SqlClient.SqlClient.use((sql) => sql<{ consumer: string }>`SELECT consumer FROM applied WHERE event_id = ${eventId}`)

const processed = (eventId: string, schema = "eventline") =>
  SqlClient.SqlClient.use(
    (sql) =>
      sql<{ consumer: string }>`SELECT consumer FROM ${sql(`${schema}.processed_events`)} WHERE event_id = ${eventId}`
  )

describe.skipIf(!available)("PgProcessedEvents on PostgreSQL", () => {
  ProcessedEventsConformance.run(
    "PostgreSQL",
    PgProcessedEvents.layer.pipe(Layer.provide(freshDatabase(databaseUrl ?? "")))
  )

  layer(Database(), { excludeTestServices: true, timeout: "60 seconds" })("once", (it) => {
    it.effect("applies the side effect of an event delivered twice only once", () =>
      Effect.gen(function* () {
        const eventId = randomUUID()
        const first = yield* ProcessedEvents.once("projection", eventId, apply("projection", eventId))
        const second = yield* ProcessedEvents.once("projection", eventId, apply("projection", eventId))
        assert.deepStrictEqual([first, second], [true, false])
        assert.strictEqual((yield* applied(eventId)).length, 1)
        assert.deepStrictEqual(yield* processed(eventId), [{ consumer: "projection" }])
      })
    )

    it.effect("leaves no processed row when the side effect fails, so a retry applies it", () =>
      Effect.gen(function* () {
        const eventId = randomUUID()
        const failing = apply("projection", eventId).pipe(Effect.andThen(Effect.fail("the projection broke")))
        const error = yield* Effect.flip(ProcessedEvents.once("projection", eventId, failing))
        assert.strictEqual(error, "the projection broke")
        assert.deepStrictEqual(yield* processed(eventId), [])
        assert.deepStrictEqual(yield* applied(eventId), [], "the side effect's SQL was rolled back with it")

        assert.isTrue(yield* ProcessedEvents.once("projection", eventId, apply("projection", eventId)))
        assert.strictEqual((yield* applied(eventId)).length, 1)
        assert.strictEqual((yield* processed(eventId)).length, 1)
      })
    )

    it.effect("serialises two deliveries of the same event at the same time: one applies, one skips", () =>
      Effect.gen(function* () {
        const eventId = randomUUID()
        const slowly = apply("projection", eventId).pipe(Effect.andThen(Effect.sleep("100 millis")))
        const results = yield* Effect.all(
          [ProcessedEvents.once("projection", eventId, slowly), ProcessedEvents.once("projection", eventId, slowly)],
          { concurrency: 2 }
        )
        assert.sameMembers(results, [true, false])
        assert.strictEqual((yield* applied(eventId)).length, 1)
      })
    )

    it.effect("keeps consumers apart, and tables in the configured schema", () =>
      Effect.gen(function* () {
        const eventId = randomUUID()
        const inbox = yield* withInboxSchema(PgProcessedEvents.make)
        assert.isTrue(yield* ProcessedEvents.once("projection", eventId, apply("projection", eventId)))
        assert.isTrue(yield* ProcessedEvents.once("mailer", eventId, apply("mailer", eventId)))
        assert.isTrue(yield* inbox.once("projection", eventId, apply("inbox-projection", eventId)))
        assert.sameMembers(
          (yield* applied(eventId)).map(({ consumer }) => consumer),
          ["projection", "mailer", "inbox-projection"]
        )
        assert.sameMembers(
          (yield* processed(eventId)).map(({ consumer }) => consumer),
          ["projection", "mailer"]
        )
        assert.deepStrictEqual(yield* processed(eventId, "inbox"), [{ consumer: "projection" }])
      })
    )

    it.effect("finds its table made by the migrations, also when they run again from several fibers at once", () =>
      Effect.gen(function* () {
        yield* Effect.all(
          Array.from({ length: 4 }, () => Migrations.run),
          { concurrency: 4 }
        )
        yield* withInboxSchema(Migrations.run)
        const sql = yield* SqlClient.SqlClient
        const columns = yield* sql<{ column_name: string; data_type: string }>`
          SELECT column_name, data_type FROM information_schema.columns
          WHERE table_schema = 'eventline' AND table_name = 'processed_events' ORDER BY ordinal_position`
        assert.deepStrictEqual(
          columns.map(({ column_name, data_type }) => `${column_name} ${data_type}`),
          ["consumer text", "event_id uuid", "processed_at timestamp with time zone"]
        )
      })
    )
  })
})
