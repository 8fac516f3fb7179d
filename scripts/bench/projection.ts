/**
 * Issue 4's benchmark: how quickly an append becomes visible in the Order read model, and how
 * fast the Order projection catches up over a long log.
 *
 *   node scripts/bench/projection.ts [--quick] [--backend=postgres|pglite|both]
 *
 * Latency: CreateOrder commands at a steady 200/s, then as fast as 16 concurrent writers go;
 * for each, from the moment its append committed (the command returned) to the moment the
 * projection's transaction holding that event committed (the subscription's afterCommit hook).
 * Woken by NOTIFY on PostgreSQL and by the in-process signal on PGlite.
 *
 * Catch-up: the projection started from the beginning over N Order events (half OrderCreated,
 * half OrderConfirmed), against a bare gap-safe readAll of the same events in the same run: the
 * ratio says what handling and checkpointing cost on top of reading.
 */
import { randomUUID } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import {
  CommandBus,
  type CommitSignal,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  Subscription
} from "@eventline/core"
import { OrderAggregate, OrderCommand, OrderMigrations, OrderReadModel } from "@eventline/orders"
import { Migrations, PgCommitSignal, PgEventStore, PgStore, PgSubscriptionStores } from "@eventline/postgres"
import { Clock, Effect, Exit, Fiber, Layer, Redacted, Ref, Scope, Stream } from "effect"
import { SqlClient } from "effect/sql"

const quick = process.argv.includes("--quick")
const backendArg = process.argv.find((arg) => arg.startsWith("--backend="))?.split("=")[1] ?? "both"
const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

type Services = Subscription.Services | CommitSignal.CommitSignal | SqlClient.SqlClient | CommandBus.CommandBus

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number)

const summary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) }
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`

const nowMs = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos) / 1e6)

/** Latency of CreateOrder → read model, at `rate` per second (or flat out when undefined). */
const latencyRun = (label: string, seconds: number, rate: number | undefined) =>
  Effect.gen(function* () {
    const bus = yield* CommandBus.CommandBus
    const committedAt = new Map<string, number>()
    const latencies: Array<number> = []
    const scope = yield* Scope.make()
    const handle = yield* Subscription.start({
      ...OrderReadModel.subscription(`bench-latency-${randomUUID()}`),
      startFrom: "end",
      afterCommit: (batch: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
        Effect.map(nowMs, (now) => {
          for (const event of batch) {
            const start = committedAt.get(event.eventId)
            if (start !== undefined) latencies.push(now - start)
          }
        })
    }).pipe(Scope.provide(scope))
    yield* handle.caughtUp
    const sent = yield* Ref.make(0)
    const createOne = Effect.gen(function* () {
      const result = yield* bus.dispatch(
        OrderCommand.OrderCommand.cases.CreateOrder.make({
          orderId: `bench-${randomUUID()}`,
          customerId: "bench",
          items: [{ productId: "p", quantity: 1, price: 100 }]
        })
      )
      const now = yield* nowMs
      for (const event of result.events) committedAt.set(event.eventId, now)
      yield* Ref.update(sent, (n) => n + 1)
    }).pipe(Effect.orDie)
    const started = yield* nowMs
    if (rate !== undefined) {
      // a steady rate: command i starts at i/rate s, each in its own fiber so a slow one never slows the rate
      const fibers: Array<Fiber.Fiber<void>> = []
      for (let i = 0; i < rate * seconds; i++) {
        const wait = started + (i * 1000) / rate - (yield* nowMs)
        if (wait > 0) yield* Effect.sleep(`${wait} millis`)
        fibers.push(yield* Effect.forkChild(createOne))
      }
      yield* Fiber.joinAll(fibers)
    } else {
      const until = started + seconds * 1000
      const writer: Effect.Effect<void> = Effect.gen(function* () {
        while ((yield* nowMs) < until) yield* createOne
      })
      yield* Effect.all(
        Array.from({ length: 16 }, () => writer),
        { concurrency: 16, discard: true }
      )
    }
    const elapsed = ((yield* nowMs) - started) / 1000
    yield* handle.caughtUp.pipe(Effect.timeout("60 seconds"))
    yield* Scope.close(scope, Exit.void)
    const count = yield* Ref.get(sent)
    const stats = summary(latencies)
    process.stdout.write(
      `  ${label.padEnd(28)} ${String(Math.round(count / elapsed)).padStart(6)} cmd/s  ` +
        `p50 ${fmt(stats.p50)}  p95 ${fmt(stats.p95)}  p99 ${fmt(stats.p99)}  (n=${stats.n})\n`
    )
    return { rate: count / elapsed, ...stats }
  })

/** Append `total` Order events directly (OrderCreated + OrderConfirmed per order). */
const seed = (total: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const metadata = { correlationId: "bench", occurredAt: new Date().toISOString() }
    yield* Effect.forEach(
      Array.from({ length: total / 2 }, (_, i) => i),
      (i) =>
        store.append(
          `seed-${i}`,
          ExpectedVersion.NoStream,
          [
            {
              type: "OrderCreated",
              schemaVersion: 1,
              data: {
                customerId: `c-${i % 50}`,
                items: [{ productId: "p", quantity: 2, price: 150 }],
                totalAmount: 300
              },
              metadata
            },
            { type: "OrderConfirmed", schemaVersion: 1, data: { confirmedAt: metadata.occurredAt }, metadata }
          ],
          { streamType: OrderAggregate.streamType }
        ),
      { concurrency: 8, discard: true }
    )
  })

const catchUp = (total: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    yield* seed(total)
    const readStart = yield* nowMs
    const read = yield* Stream.runCount(store.readAll({ streamTypes: [OrderAggregate.streamType], batchSize: 500 }))
    const readSeconds = ((yield* nowMs) - readStart) / 1000
    const scope = yield* Scope.make()
    const projectStart = yield* nowMs
    const handle = yield* Subscription.start({
      ...OrderReadModel.subscription(`bench-catchup-${randomUUID()}`),
      batchSize: 500
    }).pipe(Scope.provide(scope))
    yield* handle.caughtUp.pipe(Effect.timeout("10 minutes"))
    const projectSeconds = ((yield* nowMs) - projectStart) / 1000
    yield* Scope.close(scope, Exit.void)
    const projected = read / projectSeconds
    const baseline = read / readSeconds
    process.stdout.write(
      `  catch-up over ${read} events: projection ${Math.round(projected)} ev/s, bare readAll ${Math.round(baseline)} ev/s, ` +
        `ratio ${(projected / baseline).toFixed(2)}\n`
    )
  })

const run = (label: string, services: Layer.Layer<Services, unknown>) =>
  Effect.gen(function* () {
    process.stdout.write(`${label}\n`)
    yield* OrderMigrations.run
    yield* latencyRun("steady 200 appends/s", quick ? 3 : 10, 200)
    yield* latencyRun("flat out (16 writers)", quick ? 3 : 10, undefined)
    yield* catchUp(quick ? 10_000 : 100_000)
  }).pipe(Effect.scoped, Effect.provide(services))

const busOver = <E, R>(
  store: Layer.Layer<Subscription.Services | CommitSignal.CommitSignal | SqlClient.SqlClient, E, R>
) => CommandBus.layer([CommandBus.fromAggregate(OrderAggregate.OrderAggregate)]).pipe(Layer.provideMerge(store))

const postgres = Effect.gen(function* () {
  const database = `eventline_bench_${randomUUID().replaceAll("-", "").slice(0, 12)}`
  const admin = PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })
  const onAdmin = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
    Effect.scoped(Effect.provide(effect, admin))
  yield* Effect.acquireRelease(onAdmin(SqlClient.SqlClient.use((sql) => sql`CREATE DATABASE ${sql(database)}`)), () =>
    onAdmin(SqlClient.SqlClient.use((sql) => sql`DROP DATABASE IF EXISTS ${sql(database)} WITH (FORCE)`)).pipe(
      Effect.orDie
    )
  )
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  const client = PgClient.layer({ url: Redacted.make(url.toString()), maxConnections: 10 })
  const store = Layer.mergeAll(PgEventStore.layer, PgCommitSignal.layer, PgSubscriptionStores.layer).pipe(
    Layer.provideMerge(Migrations.layer),
    Layer.provideMerge(client)
  )
  yield* run("PostgreSQL 15 (LISTEN/NOTIFY wake-ups)", busOver(store))
}).pipe(Effect.scoped)

const pglite = run("PGlite in memory (in-process wake-ups)", busOver(PgStore.layerEmbedded()))

const program = Effect.gen(function* () {
  process.stdout.write(`projection benchmark${quick ? " (quick)" : ""}: node ${process.version}\n`)
  if (backendArg === "postgres" || backendArg === "both") yield* postgres
  if (backendArg === "pglite" || backendArg === "both") yield* pglite
})

const exit = await Effect.runPromiseExit(program)
if (Exit.isFailure(exit)) {
  process.stderr.write(`benchmark failed: ${String(exit.cause)}\n`)
  process.exitCode = 1
}
