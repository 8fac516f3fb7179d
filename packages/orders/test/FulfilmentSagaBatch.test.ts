import { assert, describe, layer } from "@effect/vitest"
import {
  CommandBus,
  CommandHandler,
  Errors,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  ProcessManagerRunner,
  type Subscription,
  Uuid
} from "@eventline/core"
import { PgCommitSignal, PgEventStore, PgStore, PgSubscriptionStores } from "@eventline/postgres"
import { TestEnvironment } from "@eventline/testing"
import { Effect, Exit, Layer, Ref, References, Schedule, Scope, Stream } from "effect"
import { inject } from "vitest"
import { freshDatabase } from "../../postgres/test/utils.ts"
import { FulfilmentSaga, InventoryAggregate, InventoryCommand, OrderAggregate } from "../src/index.ts"

const databaseUrl = inject("databaseUrl")

const Bus = CommandBus.layer([
  CommandBus.fromAggregate(OrderAggregate.OrderAggregate),
  CommandBus.fromAggregate(InventoryAggregate.InventoryAggregate)
])

// now: the orders' expiry deadlines (15 minutes after) stay out of the way
const at = new Date().toISOString()
const metadata = { correlationId: "batch-test", occurredAt: at }
const created = (productId: string, quantity: number) => ({
  type: "OrderCreated",
  schemaVersion: 1,
  data: { customerId: "dana", items: [{ productId, quantity, price: 100 }], totalAmount: 100 * quantity },
  metadata
})
const confirmed = { type: "OrderConfirmed", schemaVersion: 1, data: { confirmedAt: at }, metadata }
const cancelled = {
  type: "OrderCancelled",
  schemaVersion: 1,
  data: { reason: "changed my mind", cancelledAt: at },
  metadata
}

/** Orders written straight to the log, before the runner starts: its first batch takes them all. */
const seedOrder = (orderId: string, events: ReadonlyArray<EventEnvelope.NewEvent>) =>
  EventStore.EventStore.use((store) =>
    store.append(OrderAggregate.streamIdOf(orderId), ExpectedVersion.NoStream, events, {
      streamType: OrderAggregate.streamType
    })
  )
const restock = (productId: string, quantity: number) =>
  CommandBus.CommandBus.use((bus) =>
    bus.dispatch(InventoryCommand.InventoryCommand.cases.Restock.make({ productId, quantity }))
  )
const stockOf = (productId: string) =>
  Effect.map(
    CommandHandler.load(InventoryAggregate.InventoryAggregate, InventoryAggregate.streamIdOf(productId)),
    (loaded) => loaded.state
  )
const eventsOf = (streamId: string) =>
  EventStore.EventStore.use((store) => Stream.runCollect(store.readStream(streamId)))

const settle = (handle: ProcessManagerRunner.Handle<FulfilmentSaga.FulfilmentState>) =>
  Effect.andThen(handle.subscription.caughtUp, handle.subscription.lag).pipe(
    Effect.repeat({ until: (lag) => lag.events === 0 }),
    Effect.timeout("30 seconds")
  )

/** Runs the saga in a scope of its own until it has nothing left to do, then stops it. */
const runSaga = <A, E, R>(
  options: ProcessManagerRunner.Options,
  use: (handle: ProcessManagerRunner.Handle<FulfilmentSaga.FulfilmentState>) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const handle = yield* ProcessManagerRunner.start(FulfilmentSaga.make(), options).pipe(Scope.provide(scope))
    yield* settle(handle)
    const result = yield* use(handle)
    yield* Scope.close(scope, Exit.void)
    return result
  })

/** A bus that fails a command `times` times when `fails` says so, like a process dying mid-batch. */
const flakyBus = (fails: (command: { readonly _tag: string; readonly productId?: string }) => boolean, times: number) =>
  Effect.gen(function* () {
    const bus = yield* CommandBus.CommandBus
    const failures = yield* Ref.make(0)
    const failing = CommandBus.CommandBus.of({
      ...bus,
      dispatch: (command, context) =>
        Effect.flatMap(
          Ref.getAndUpdate(failures, (n) => n + 1),
          (failed) =>
            fails(command) && failed < times
              ? Effect.fail(new Errors.InfrastructureError({ operation: "dispatch", cause: "the process died" }))
              : bus.dispatch(command, context)
        )
    })
    return { failing, failures }
  })

/**
 * No effect doubled: each order's reservation is one StockReserved event, and the stock adds up.
 * Its id comes from the input that caused it (the saga's command id), so a repeat is recognised
 * as one even by an aggregate that is not idempotent itself (Inventory happens to be).
 */
const reservedOnce = (productId: string, orders: ReadonlyArray<string>, stocked: number) =>
  Effect.gen(function* () {
    const reservations = (yield* eventsOf(InventoryAggregate.streamIdOf(productId))).filter(
      (event) => event.type === "StockReserved"
    )
    assert.deepStrictEqual(
      reservations.map((event) => (event.data as { orderId: string }).orderId).sort(),
      [...orders].sort()
    )
    for (const reservation of reservations) {
      const orderId = (reservation.data as { orderId: string }).orderId
      const confirmation = (yield* eventsOf(OrderAggregate.streamIdOf(orderId))).find(
        (event) => event.type === "OrderConfirmed"
      )
      const commandId = Uuid.fromParts("Fulfilment", orderId, confirmation?.eventId ?? "", 0)
      assert.strictEqual(reservation.eventId, Uuid.fromParts("command", commandId, 0))
    }
    // each order fully reserved, so committed once: sold, and out of the product's state
    const commits = (yield* eventsOf(InventoryAggregate.streamIdOf(productId))).filter(
      (event) => event.type === "StockCommitted"
    )
    assert.deepStrictEqual(
      commits.map((event) => (event.data as { orderId: string }).orderId).sort(),
      [...orders].sort()
    )
    assert.deepStrictEqual(yield* stockOf(productId), { available: stocked - orders.length, reservations: {} })
  })

// one store for the file: the tests run in order, each resuming the saga's checkpoint
layer(Bus.pipe(Layer.provideMerge(PgStore.layerEmbedded())), { excludeTestServices: true, timeout: "120 seconds" })(
  "FulfilmentSaga batches on PGlite",
  (it) => {
    it.effect(
      "several inputs of one instance in one batch apply in order, with one load and one append",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          yield* restock("batch-p1", 10)
          yield* seedOrder("batch-o1", [created("batch-p1", 2), confirmed, cancelled])
          const calls = new Map<string, number>()
          const count = (call: string) => calls.set(call, (calls.get(call) ?? 0) + 1)
          const counting = EventStore.EventStore.of({
            ...store,
            append: (streamId, expected, events, options) =>
              Effect.andThen(
                Effect.sync(() => count(`append ${streamId}`)),
                store.append(streamId, expected, events, options)
              ),
            readStream: (streamId, options) =>
              Stream.unwrap(
                Effect.as(
                  Effect.sync(() => count(`read ${streamId}`)),
                  store.readStream(streamId, options)
                )
              )
          })
          const reads = yield* runSaga({ batchSize: 1000 }, () =>
            Effect.sync(() => calls.get("read Fulfilment-batch-o1"))
          ).pipe(Effect.provideService(EventStore.EventStore, counting))
          const state = yield* runSaga({}, (handle) => handle.state("batch-o1"))
          // placed, confirmed (Reserve sent), cancelled: one batch; the reservation it caused comes back in the next
          const inputs = (yield* eventsOf("Fulfilment-batch-o1")).map(
            (event) => (event.data as { input: { _tag: string } }).input._tag
          )
          assert.deepStrictEqual(inputs, ["OrderPlaced", "OrderConfirmed", "OrderCancelled", "StockReserved"])
          assert.strictEqual(state.status, "Closed")
          assert.strictEqual(calls.get("append Fulfilment-batch-o1"), 2, "one append per batch, not per input")
          assert.strictEqual(reads, 1, "loaded once, then kept by the runner")
          // the late reservation of a cancelled order went back
          assert.deepStrictEqual(yield* stockOf("batch-p1"), { available: 10, reservations: {} })
        }),
      60_000
    )

    it.effect(
      "a failing input is retried, then parked alone; the other inputs of its batch go through",
      () =>
        Effect.gen(function* () {
          yield* restock("poison-ok", 10)
          const seeded = yield* seedOrder("poison-a", [created("poison-bad", 1), confirmed])
          yield* seedOrder("poison-b", [created("poison-ok", 1), confirmed])
          yield* seedOrder("poison-c", [created("poison-ok", 1), confirmed])
          const { failing } = yield* flakyBus((command) => command.productId === "poison-bad", Infinity)
          const parked = yield* runSaga({ batchSize: 1000, retry: Schedule.recurs(2) }, (handle) =>
            handle.subscription.deadLetters("parked")
          ).pipe(
            Effect.provideService(CommandBus.CommandBus, failing),
            // the dead-lettering is expected: no warning in the test output
            Effect.provideService(References.MinimumLogLevel, "Error")
          )
          assert.deepStrictEqual(
            parked.map((letter) => letter.eventId),
            [seeded.events[1]?.eventId],
            "only poison-a's confirmation is parked"
          )
          assert.strictEqual(parked[0]?.attempts, 3)
          assert.include(parked[0]?.error ?? "", "the process died")
          yield* reservedOnce("poison-ok", ["poison-b", "poison-c"], 10)
        }),
      60_000
    )

    it.effect(
      "a batch that fails midway leaves nothing behind: after the retry every effect happened once",
      () =>
        Effect.gen(function* () {
          yield* restock("midway-p", 10)
          const orders = ["midway-1", "midway-2", "midway-3"]
          for (const orderId of orders) yield* seedOrder(orderId, [created("midway-p", 1), confirmed])
          // the second reservation fails once: the first was already appended in the batch's transaction
          const { failing, failures } = yield* flakyBus((command) => command._tag === "Reserve", 2)
          yield* runSaga({ batchSize: 1000 }, () => Effect.void).pipe(
            Effect.provideService(CommandBus.CommandBus, failing)
          )
          assert.isAtLeast(yield* Ref.get(failures), 2)
          yield* reservedOnce("midway-p", orders, 10)
        }),
      60_000
    )
  }
)

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))(
  "FulfilmentSaga batches on PostgreSQL",
  () => {
    const store: Layer.Layer<Subscription.Services | PgSubscriptionStores.Services, unknown> = Layer.mergeAll(
      PgEventStore.layer,
      PgCommitSignal.layer,
      PgSubscriptionStores.layer
    ).pipe(Layer.provideMerge(freshDatabase(databaseUrl ?? "")))
    layer(Bus.pipe(Layer.provideMerge(store)), { excludeTestServices: true, timeout: "120 seconds" })(
      "commands sent concurrently, outside the batch's transaction",
      (it) => {
        it.effect(
          "a batch that fails after some commands went out: the retry sends them again, and each happens once",
          () =>
            Effect.gen(function* () {
              yield* restock("concurrent-p", 10)
              const orders = ["concurrent-1", "concurrent-2", "concurrent-3", "concurrent-4"]
              for (const orderId of orders) yield* seedOrder(orderId, [created("concurrent-p", 1), confirmed])
              const { failing, failures } = yield* flakyBus((command) => command._tag === "Reserve", 3)
              yield* runSaga({ batchSize: 1000, commandConcurrency: 4 }, () => Effect.void).pipe(
                Effect.provideService(CommandBus.CommandBus, failing)
              )
              assert.isAtLeast(yield* Ref.get(failures), 3)
              yield* reservedOnce("concurrent-p", orders, 10)
            }),
          60_000
        )
      }
    )
  }
)
