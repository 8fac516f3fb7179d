/**
 * Issue 11's saga benchmark: how fast the fulfilment process manager catches up.
 *
 *   node scripts/bench/saga.ts [--quick] [--backend=postgres|pglite|both] [--orders=N]
 *
 * N orders (OrderCreated + OrderConfirmed, one line each, over 20 stocked products) are appended
 * straight through the EventStore; then the runner starts from the beginning and is timed until
 * nothing is left (its own Reserve commands produce StockReserved events it follows too). The
 * baseline is the bare gap-safe readAll of the same log in the same run, before and after.
 */
import { CommandBus, EventStore, ExpectedVersion, ProcessManagerRunner } from "@eventline/core"
import { FulfilmentSaga, InventoryAggregate, InventoryCommand, OrderAggregate } from "@eventline/orders"
import { PgStore } from "@eventline/postgres"
import { Effect, Exit, Layer, Redacted, Scope, Stream } from "effect"
import { measure, median, progress } from "./common.ts"
import { throwawayDatabase } from "./postgres.ts"

const quick = process.argv.includes("--quick")
const backend = process.argv.find((arg) => arg.startsWith("--backend="))?.split("=")[1] ?? "both"
const orders = Number(process.argv.find((arg) => arg.startsWith("--orders="))?.split("=")[1] ?? (quick ? 300 : 2000))
const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const products = 20

const at = new Date().toISOString()
const metadata = { correlationId: "bench", occurredAt: at }

const seed = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const bus = yield* CommandBus.CommandBus
  for (let p = 0; p < products; p++) {
    yield* bus.dispatch(
      InventoryCommand.InventoryCommand.cases.Restock.make({ productId: `p-${p}`, quantity: orders * 10 })
    )
  }
  yield* Effect.forEach(
    Array.from({ length: orders }, (_, i) => i),
    (i) =>
      store.append(
        OrderAggregate.streamIdOf(`o-${i}`),
        ExpectedVersion.NoStream,
        [
          {
            type: "OrderCreated",
            schemaVersion: 1,
            data: {
              customerId: "c",
              items: [{ productId: `p-${i % products}`, quantity: 1, price: 100 }],
              totalAmount: 100
            },
            metadata
          },
          { type: "OrderConfirmed", schemaVersion: 1, data: { confirmedAt: at }, metadata }
        ],
        { streamType: OrderAggregate.streamType }
      ),
    { concurrency: 8, discard: true }
  )
})

const follows = [OrderAggregate.streamType, InventoryAggregate.streamType]
const countEvents = (streamTypes: ReadonlyArray<string>) =>
  Effect.flatMap(EventStore.EventStore, (store) => Stream.runCount(store.readAll({ streamTypes, batchSize: 500 })))

const run = (label: string, options?: ProcessManagerRunner.Options) =>
  Effect.gen(function* () {
    yield* seed
    const seeded = yield* countEvents(follows)
    const before = yield* measure(seeded, countEvents(follows))
    const scope = yield* Scope.make()
    const saga = measure(
      orders * 3,
      Effect.gen(function* () {
        const handle = yield* ProcessManagerRunner.start(FulfilmentSaga.make(), options).pipe(Scope.provide(scope))
        yield* Effect.andThen(handle.subscription.caughtUp, handle.subscription.lag).pipe(
          Effect.repeat({ until: (lag) => lag.events === 0 })
        )
      })
    )
    const sample = yield* saga
    yield* Scope.close(scope, Exit.void)
    const after = yield* measure(seeded, countEvents(follows))
    const inputs = yield* countEvents(["Fulfilment"])
    const commands = (yield* countEvents([InventoryAggregate.streamType])) - products
    const perSecond = (sample.perSecond * inputs) / (orders * 3)
    const cpu = (sample.cpuMicrosPerEvent * orders * 3) / inputs
    const baseline = median([before.perSecond, after.perSecond])
    process.stdout.write(
      `${label}: ${inputs} saga inputs at ${perSecond.toFixed(0)} inputs/s (node CPU ${cpu.toFixed(0)} µs/input), ` +
        `${commands} commands dispatched; bare readAll ${baseline.toFixed(0)} ev/s ` +
        `(CPU ${before.cpuMicrosPerEvent.toFixed(1)} µs/ev); ratio ${(perSecond / baseline).toFixed(3)}\n`
    )
  })

const bus = CommandBus.layer([
  CommandBus.fromAggregate(OrderAggregate.OrderAggregate),
  CommandBus.fromAggregate(InventoryAggregate.InventoryAggregate)
])

/** The runner on a throwaway PostgreSQL database (dropped when the scope closes). */
const postgres = (label: string, options?: ProcessManagerRunner.Options) =>
  Effect.gen(function* () {
    const url = yield* throwawayDatabase(adminUrl)
    const store = PgStore.layer({ url: Redacted.make(url), maxConnections: 10 })
    yield* run(label, options).pipe(Effect.provide(bus.pipe(Layer.provideMerge(store))))
  }).pipe(Effect.scoped)

const pglite = run("PGlite").pipe(Effect.provide(bus.pipe(Layer.provideMerge(PgStore.layerEmbedded()))))

const program = Effect.gen(function* () {
  yield* progress(`saga benchmark: ${orders} orders, node ${process.version}`)
  if (backend === "postgres" || backend === "both") {
    yield* postgres("PostgreSQL, commands in the unit of work")
    yield* postgres("PostgreSQL, commandConcurrency 16", { commandConcurrency: 16 })
  }
  if (backend === "pglite" || backend === "both") yield* pglite
})

const exit = await Effect.runPromiseExit(program)
if (Exit.isFailure(exit)) {
  process.stderr.write(`benchmark failed: ${String(exit.cause)}\n`)
  process.exitCode = 1
}
