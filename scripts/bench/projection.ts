/**
 * Projection catch-up: the Order read model started from the beginning over N Order events (half
 * OrderCreated, half OrderConfirmed), against a bare gap-safe readAll of the same events, in
 * alternating rounds (ABBA) in one process: the ratio says what handling and checkpointing cost on
 * top of reading. Each projection round starts from an empty read model and a new checkpoint.
 *
 *   node scripts/bench/projection.ts [--quick] [--backend=postgres|pglite|both] [--per-event]
 *
 * Append → read model latency is measured by scripts/bench/readModelLatency.ts.
 */
import { randomUUID } from "node:crypto"
import { EventStore, ExpectedVersion, Subscription } from "@eventline/core"
import { OrderAggregate, OrderMigrations, OrderReadModel } from "@eventline/orders"
import { PgStore } from "@eventline/postgres"
import { Effect, Redacted, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { alternate, cpuNote, measure, parseOptions, progress, table, throughputRow } from "./common.ts"
import { throwawayDatabase } from "./postgres.ts"

const options = parseOptions(process.argv, process.env)
const backendArg = process.argv.find((arg) => arg.startsWith("--backend="))?.split("=")[1] ?? "both"
const total = options.quick ? 10_000 : 100_000
const rounds = { max: options.quick ? 2 : 4, budgetSeconds: 60 }
/** Also measure the projection with one statement per event (slow: minutes over 100k events). */
const comparePerEvent = process.argv.includes("--per-event")
const streamTypes = [OrderAggregate.streamType]

/** Append `total` Order events (OrderCreated + OrderConfirmed per order). */
const seed = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const metadata = { correlationId: "bench", occurredAt: new Date().toISOString() }
  yield* Effect.forEach(
    Array.from({ length: total / 2 }, (_, i) => i),
    (i) =>
      store.append(
        OrderAggregate.streamIdOf(`seed-${i}`),
        ExpectedVersion.NoStream,
        [
          {
            type: "OrderCreated",
            schemaVersion: 1,
            data: { customerId: `c-${i % 50}`, items: [{ productId: "p", quantity: 2, price: 150 }], totalAmount: 300 },
            metadata
          },
          { type: "OrderConfirmed", schemaVersion: 1, data: { confirmedAt: metadata.occurredAt }, metadata }
        ],
        { streamType: OrderAggregate.streamType }
      ),
    { concurrency: 16, discard: true }
  )
})

const catchUp = (label: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    yield* OrderMigrations.run
    yield* progress(`${label}: seeding ${total} events`)
    yield* seed
    const readAll = measure(total, Stream.runDrain(store.readAll({ streamTypes, batchSize: 500 })))
    /** The projection from an empty read model; `perEvent`: one statement per event, as before 0.3.0. */
    const project = (perEvent: boolean) =>
      Effect.gen(function* () {
        yield* sql`TRUNCATE ${sql("eventline.order_read_models")}`
        const projection = OrderReadModel.subscription(`bench-catchup-${randomUUID()}`)
        const handleBatchAtomically = perEvent ? undefined : projection.handleBatchAtomically
        return yield* measure(
          total,
          Effect.scoped(
            Effect.flatMap(Subscription.start({ ...projection, handleBatchAtomically }), (handle) => handle.caughtUp)
          )
        )
      })
    const rows = []
    const notes = []
    for (const perEvent of comparePerEvent ? [false, true] : [false]) {
      const comparison = yield* alternate({ rounds, baseline: () => readAll, eventline: () => project(perEvent) })
      const name = `${label}: catch-up over ${total} events${perEvent ? ", a statement per event" : ""}`
      rows.push(throughputRow(name, comparison, "bare gap-safe readAll"))
      notes.push(cpuNote(name, comparison))
    }
    return { rows, notes }
  })

const onPostgres = Effect.scoped(
  Effect.flatMap(throwawayDatabase(options.adminUrl), (url) =>
    catchUp("PostgreSQL").pipe(Effect.provide(PgStore.layer({ url: Redacted.make(url), maxConnections: 10 })))
  )
)

const onPglite = catchUp("PGlite").pipe(Effect.provide(PgStore.layerEmbedded()))

const program = Effect.gen(function* () {
  process.stdout.write(`projection catch-up benchmark${options.quick ? " (quick)" : ""}: node ${process.version}\n`)
  const results = []
  if (backendArg === "postgres" || backendArg === "both") results.push(yield* onPostgres)
  if (backendArg === "pglite" || backendArg === "both") results.push(yield* onPglite)
  process.stdout.write(
    `${table(results.flatMap((result) => result.rows))}\n${results.flatMap((result) => result.notes).join("\n")}\n`
  )
})

await Effect.runPromise(program)
