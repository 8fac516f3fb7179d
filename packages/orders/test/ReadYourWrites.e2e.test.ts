/**
 * `?consistent=true` when the read model cannot catch up in time: the answer says it timed out
 * (503 problem+json with Retry-After, naming the wait), never a 404 for an order that exists.
 * Held back two ways: a read model the test stops (PGlite), and a transaction that appended to
 * the store and stays open, so the gap-safe reader may not pass it (PostgreSQL).
 */

import { PgClient } from "@effect/sql-pg"
import { assert, describe, layer } from "@effect/vitest"
import { EventStore, ExpectedVersion } from "@eventline/core"
import { PgEventStore } from "@eventline/postgres"
import { TestEnvironment } from "@eventline/testing"
import { Context, Deferred, Duration, Effect, Fiber, Latch, Layer, Redacted, References } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { throwawayDatabase } from "../../postgres/test/utils.ts"
import * as OrderReadModel from "../src/OrderReadModel.ts"
import { OrderView } from "../src/OrderReadModel.ts"
import { baseUrl, call, decode, eventually, orderBody, problem, serviceLayer, unique } from "./e2e.ts"

const databaseUrl = inject("databaseUrl")

/** Asserts the timeout answer of `?consistent=true`. */
const assertTimedOut = (reply: { status: number; headers: Headers; text: string; body: unknown }, wait: string) => {
  assert.strictEqual(reply.status, 503, reply.text)
  assert.strictEqual(reply.headers.get("content-type"), "application/problem+json")
  assert.strictEqual(reply.headers.get("retry-after"), "1")
  const body = problem(reply)
  assert.strictEqual(body.type, "urn:eventline:problem:unavailable")
  assert.include(body.detail ?? "", wait)
  assert.include(body.detail ?? "", "timed out")
}

class Gate extends Context.Service<Gate, Latch.Latch>()("test/ReadYourWrites/Gate") {}

// the read model behind a gate (not transactional: a closed gate must not hold PGlite's connection)
const gated = Layer.unwrap(
  Effect.gen(function* () {
    const gate = yield* Latch.make(true)
    const readModel = OrderReadModel.subscription()
    return serviceLayer(
      { _tag: "Embedded", dataDir: undefined },
      undefined,
      {
        consistencyTimeout: Duration.millis(300),
        readModel: {
          ...readModel,
          transactional: false,
          handle: (event) => Effect.andThen(gate.await, readModel.handle(event))
        }
      },
      // the 503 is logged as an error, and these tests provoke it on purpose
      "Fatal"
    ).pipe(Layer.merge(Layer.succeed(Gate, gate)))
  })
)

layer(gated, { excludeTestServices: true, timeout: "120 seconds" })("?consistent=true, read model held back", (it) => {
  it.effect("an order the read model has not seen yet: 503 that says the wait timed out, not 404", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const gate = yield* Gate
      yield* gate.close
      const orderId = unique("unseen")
      const created = yield* call("POST", `${base}/orders`, { json: orderBody("erin", [["p", 1]], orderId) })
      assert.strictEqual(created.status, 201, created.text)
      assertTimedOut(yield* call("GET", `${base}/orders/${orderId}?consistent=true`), "300ms")
      yield* gate.open
      // a short wait: on a loaded machine catching up may take longer, so ask until it is not a 503
      const seen = yield* eventually(
        call("GET", `${base}/orders/${orderId}?consistent=true`),
        (reply) => reply.status !== 503
      )
      assert.strictEqual(seen.status, 200, seen.text)
      assert.strictEqual(decode(OrderView)(seen).version, 1)
    })
  )
})

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))("on PostgreSQL", () => {
  const onPostgres = Layer.unwrap(
    Effect.map(throwawayDatabase(databaseUrl ?? "", "h2_ryw"), (url) =>
      Layer.merge(
        serviceLayer(
          { _tag: "Postgres", url: Redacted.make(url) },
          undefined,
          { consistencyTimeout: Duration.seconds(1) },
          "Fatal"
        ),
        // a client of its own, for the transaction the test holds open
        PgEventStore.layer.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })))
      )
    )
  )

  layer(onPostgres, { excludeTestServices: true, timeout: "120 seconds" })(
    "?consistent=true behind an open appending transaction",
    (it) => {
      it.effect("503 that says the wait timed out while the transaction is open; 200 once it commits", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const sql = yield* SqlClient.SqlClient
          const store = yield* EventStore.EventStore
          const release = yield* Deferred.make<void>()
          const appended = yield* Deferred.make<void>()
          // an append whose transaction stays open: no gap-safe reader may pass it
          const holder = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* store.append(
                  unique("Held-stream"),
                  ExpectedVersion.NoStream,
                  [
                    {
                      type: "Held",
                      data: {},
                      metadata: { correlationId: "held", occurredAt: new Date().toISOString() },
                      schemaVersion: 1
                    }
                  ],
                  { streamType: "Held" }
                )
                yield* Deferred.succeed(appended, undefined)
                yield* Deferred.await(release)
              })
            )
            .pipe(Effect.forkChild)
          // the holder's failure would otherwise leave the test waiting forever
          yield* Effect.raceFirst(Deferred.await(appended), Effect.andThen(Fiber.join(holder), Effect.die("not held")))
          const orderId = unique("behind")
          const created = yield* call("POST", `${base}/orders`, { json: orderBody("finn", [["p", 1]], orderId) })
          assert.strictEqual(created.status, 201, created.text)
          assertTimedOut(yield* call("GET", `${base}/orders/${orderId}?consistent=true`), "1s")

          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(holder)
          const seen = yield* eventually(
            call("GET", `${base}/orders/${orderId}?consistent=true`),
            (reply) => reply.status !== 503
          )
          assert.strictEqual(seen.status, 200, seen.text)
          assert.strictEqual(decode(OrderView)(seen).orderId, orderId)
        }).pipe(Effect.provideService(References.MinimumLogLevel, "Fatal"))
      )
    }
  )
})
