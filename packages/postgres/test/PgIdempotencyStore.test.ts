import { assert, describe, layer } from "@effect/vitest"
import { IdempotencyStore, Uuid } from "@eventline/core"
import { IdempotencyStoreConformance } from "@eventline/testing"
import { Duration, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { PgIdempotencyStore, PgStore } from "../src/index.ts"
import { databaseUrl, freshDatabase, postgresAvailable } from "./utils.ts"

const available = postgresAvailable()

// one PGlite for the file: the conformance suite and the SQL-only behaviour share it
const embedded = PgStore.layerEmbedded()
IdempotencyStoreConformance.run("PGlite (embedded)", PgIdempotencyStore.layer().pipe(Layer.provide(embedded)))

layer(PgIdempotencyStore.layer().pipe(Layer.provideMerge(embedded)), {
  excludeTestServices: true,
  timeout: "120 seconds"
})("PgIdempotencyStore leases (PGlite)", (it) => {
  it.effect("a claim has a short lease, told in retryAfter; renewing it keeps a running request's claim", () =>
    Effect.gen(function* () {
      const store = yield* IdempotencyStore.IdempotencyStore
      const sql = yield* SqlClient.SqlClient
      const key = yield* Uuid.makeV7
      assert.deepStrictEqual(yield* store.claim(key, "hash-a"), { _tag: "Claimed" })
      const lease = Duration.toSeconds(PgIdempotencyStore.defaultLease)
      assert.isAtMost(lease, 10)
      assert.deepStrictEqual(store.renewEvery, Duration.divideUnsafe(PgIdempotencyStore.defaultLease, 3))
      const running = yield* store.claim(key, "hash-a")
      if (running._tag !== "InProgress" || running.retryAfter === undefined) return assert.fail("expected a lease")
      assert.isAbove(Duration.toSeconds(running.retryAfter), 0)
      assert.isAtMost(Duration.toSeconds(running.retryAfter), lease)

      // the lease about to end: a renewal (the request still runs) gives it a whole lease again
      yield* sql`UPDATE eventline.idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = ${key}`
      yield* store.renew(key, "hash-a")
      const renewed = yield* store.claim(key, "hash-a")
      assert.strictEqual(renewed._tag, "InProgress")
      // not renewed (its process died): the next request takes the key over
      yield* sql`UPDATE eventline.idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = ${key}`
      assert.deepStrictEqual(yield* store.claim(key, "hash-a"), { _tag: "Claimed" })
    })
  )
})

describe.skipIf(!available)("PgIdempotencyStore on PostgreSQL", () => {
  const database = freshDatabase(databaseUrl ?? "")
  IdempotencyStoreConformance.run("PostgreSQL", PgIdempotencyStore.layer().pipe(Layer.provide(database)))

  layer(
    PgIdempotencyStore.layer({ lease: "1 millis", ttl: "1 hour" }).pipe(
      Layer.provideMerge(freshDatabase(databaseUrl ?? ""))
    ),
    { excludeTestServices: true, timeout: "120 seconds" }
  )("leases and expiry", (it) => {
    it.effect("a claim whose lease expired (its process died) is taken over; an expired response is forgotten", () =>
      Effect.gen(function* () {
        const store = yield* IdempotencyStore.IdempotencyStore
        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual(yield* store.claim("leased", "hash-a"), { _tag: "Claimed" })
        yield* Effect.sleep("20 millis")
        assert.deepStrictEqual(yield* store.claim("leased", "hash-b"), { _tag: "Claimed" })

        yield* store.complete("leased", "hash-b", { status: 200, headers: {}, body: "" })
        yield* sql`UPDATE eventline.idempotency_keys SET created_at = now() - interval '2 hours' WHERE key = 'leased'`
        assert.deepStrictEqual(yield* store.claim("leased", "hash-c"), { _tag: "Claimed" })
      })
    )
  })
})

describe.skipIf(!available)("PgIdempotencyStore without migrations", () => {
  layer(freshDatabase(databaseUrl ?? ""), { excludeTestServices: true, timeout: "120 seconds" })("", (it) => {
    it.effect("builds without creating its table (migration 0003 does)", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP TABLE eventline.idempotency_keys`
        const claimed = yield* Effect.scoped(
          Effect.flatMap(PgIdempotencyStore.make(), (store) => Effect.flip(store.claim("k", "h")))
        )
        assert.strictEqual(claimed._tag, "InfrastructureError")
        const tables = yield* sql`SELECT to_regclass('eventline.idempotency_keys') AS found`
        assert.deepStrictEqual(tables, [{ found: null }])
      })
    )
  })
})
