import { assert, describe, layer } from "@effect/vitest"
import { type EventEnvelope, EventStore, ExpectedVersion, type Subscription } from "@eventline/core"
import { SubscriptionConformance, TestEnvironment } from "@eventline/testing"
import { Duration, Effect, Layer, References, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { PgCommitSignal, PgEventStore, PgStore, PgSubscriptionStores } from "../src/index.ts"
import { freshDatabase } from "./utils.ts"

const databaseUrl = inject("databaseUrl")

const Tally = Schema.Array(Schema.Struct({ stream_id: Schema.String, count: Schema.Int, last_version: Schema.Int }))
const Applied = Schema.Array(Schema.Struct({ event_id: Schema.String, times: Schema.Int }))

/** A small projection: per stream, how many events and the last version; per event, how often applied. */
const tallyTables = (prefix: string): Effect.Effect<SubscriptionConformance.Tally, unknown, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const tally = sql(`${prefix}_tally`)
    const applied = sql(`${prefix}_applied`)
    yield* sql`CREATE TABLE ${tally} (stream_id text PRIMARY KEY, count int NOT NULL, last_version int NOT NULL)`
    yield* sql`CREATE TABLE ${applied} (event_id text PRIMARY KEY, times int NOT NULL)`
    const apply = (recorded: EventEnvelope.RecordedEvent) =>
      Effect.gen(function* () {
        const rows = yield* sql`SELECT last_version FROM ${tally} WHERE stream_id = ${recorded.streamId}`
        const last = (rows[0] as { last_version: number } | undefined)?.last_version ?? 0
        if (recorded.version !== last + 1) {
          return yield* Effect.fail(new Error(`out of order: ${recorded.streamId}@${recorded.version} after ${last}`))
        }
        yield* sql`INSERT INTO ${tally} (stream_id, count, last_version) VALUES (${recorded.streamId}, 1, ${recorded.version})
          ON CONFLICT (stream_id) DO UPDATE SET count = ${tally}.count + 1, last_version = EXCLUDED.last_version`
        yield* sql`INSERT INTO ${applied} (event_id, times) VALUES (${recorded.eventId}, 1)
          ON CONFLICT (event_id) DO UPDATE SET times = ${applied}.times + 1`
      })
    const read = Effect.gen(function* () {
      const rows = yield* Schema.decodeUnknownEffect(Tally)(yield* sql`SELECT * FROM ${tally} ORDER BY stream_id`)
      const times = yield* Schema.decodeUnknownEffect(Applied)(yield* sql`SELECT * FROM ${applied}`)
      return {
        counts: Object.fromEntries(rows.map((row) => [row.stream_id, row.count])),
        appliedTwice: times.filter((row) => row.times > 1).map((row) => row.event_id),
        applied: times.length
      }
    })
    const clear = Effect.andThen(sql`TRUNCATE ${tally}`, sql`TRUNCATE ${applied}`)
    return { apply, read, clear }
  })

const event = (type: string): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data: {},
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

let counter = 0

/** SQL-only: the projection's rows and the checkpoint share the transaction, so a fenced runner writes nothing. */
const fencing = (backend: string, storeLayer: Layer.Layer<Subscription.Services | SqlClient.SqlClient, unknown>) =>
  // losing the lease is logged at Info, and this test takes it away on purpose
  layer(storeLayer.pipe(Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Warn"))), {
    excludeTestServices: true,
    timeout: "120 seconds"
  })(`Subscription on ${backend}`, (it) => {
    it.effect(
      "a runner that lost its lease cannot commit: neither the projection's rows nor the checkpoint move",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const store = yield* EventStore.EventStore
          const { apply, read } = yield* tallyTables(`f${process.pid}_${counter++}`)
          const type = `Fence${counter}`
          const name = `fence-${type}`
          yield* store.append(`${type}-a`, ExpectedVersion.Any, [event("A"), event("A"), event("A")], {
            streamType: type
          })
          yield* SubscriptionConformance.withRunner(
            { name, streamTypes: [type], handle: apply, leaseTtl: Duration.millis(400) },
            (runner) =>
              Effect.gen(function* () {
                yield* runner.caughtUp.pipe(Effect.timeout("10 seconds"))
                assert.deepStrictEqual((yield* read).counts, { [`${type}-a`]: 3 })
                const before = yield* runner.checkpoint
                // another process steals the lease: this runner's next commit is refused (fenced)
                yield* sql`UPDATE eventline.checkpoints SET owner = 'thief', lease_expires_at = now() + interval '1 hour'
                  WHERE subscription_id = ${name}`
                yield* store.append(`${type}-a`, ExpectedVersion.Any, [event("A"), event("A")], { streamType: type })
                yield* runner.isActive.pipe(
                  Effect.repeat({ until: (active) => !active, schedule: Schedule.spaced("20 millis") }),
                  Effect.timeout("10 seconds")
                )
                assert.deepStrictEqual(
                  (yield* read).counts,
                  { [`${type}-a`]: 3 },
                  "nothing committed without the lease"
                )
                assert.deepStrictEqual(yield* runner.checkpoint, before)
              })
          )
        }),
      60_000
    )
  })

SubscriptionConformance.run("PGlite (embedded)", PgStore.layerEmbedded(), { tally: tallyTables })
fencing("PGlite (embedded)", PgStore.layerEmbedded())

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))("on PostgreSQL", () => {
  const postgres = () =>
    Layer.mergeAll(PgEventStore.layer, PgCommitSignal.layer, PgSubscriptionStores.layer).pipe(
      Layer.provideMerge(freshDatabase(databaseUrl ?? ""))
    )
  SubscriptionConformance.run("PostgreSQL", postgres(), { tally: tallyTables })
  fencing("PostgreSQL", postgres())
})
