/**
 * The service's subscriptions hold short leases (`EVENTLINE_LEASE_TTL`, 3 s by default), so a
 * process restarted after a kill -9 resumes them at once instead of waiting out its dead
 * predecessor's 10-second lease (the soak test saw `?consistent=true` answer 503 for that long).
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, References, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { defaultLeaseTtl } from "../src/Config.ts"
import * as Kafka from "../src/Kafka.ts"
import * as Layers from "../src/Layers.ts"

const Lease = Schema.Struct({ name: Schema.String, remainingMs: Schema.Number })

const leases = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`
    SELECT subscription_id AS name, (extract(epoch FROM lease_expires_at - now()) * 1000)::float8 AS "remainingMs"
    FROM eventline.checkpoints WHERE lease_expires_at IS NOT NULL
    UNION ALL
    SELECT group_id || '/' || topic, (extract(epoch FROM lease_expires_at - now()) * 1000)::float8 FROM eventline.bus_offsets`
  return yield* Schema.decodeUnknownEffect(Schema.Array(Lease))(rows)
})

describe("subscription leases of the service", () => {
  it.live(
    "every subscription and the embedded consumer hold a lease of at most EVENTLINE_LEASE_TTL",
    () =>
      Effect.gen(function* () {
        const running = yield* Layers.Projections
        const streaming = yield* Kafka.Streaming
        yield* Effect.forEach([running.readModel, running.fulfilment.subscription, streaming.relay], (handle) =>
          handle.isActive.pipe(
            Effect.repeat({ until: (active) => active, schedule: Schedule.spaced("50 millis") }),
            Effect.timeout("30 seconds")
          )
        )
        const found = yield* leases.pipe(
          Effect.repeat({ until: (rows) => rows.length >= 4, schedule: Schedule.spaced("100 millis") }),
          Effect.timeout("30 seconds")
        )
        const limit = Duration.toMillis(defaultLeaseTtl)
        for (const lease of found) {
          assert.isAtMost(lease.remainingMs, limit, `${lease.name}: ${lease.remainingMs} ms left of its lease`)
        }
      }).pipe(
        Effect.provide(
          Layers.services({
            database: { _tag: "Embedded", dataDir: undefined },
            kafkaBrokers: undefined,
            readyMaxLag: 0
          }).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn")))
        )
      ),
    60_000
  )
})
