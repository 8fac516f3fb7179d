import { assert, describe, it, layer } from "@effect/vitest"
import {
  CommandBus,
  CommandHandler,
  type DeadlineStore,
  Decider,
  Errors,
  EventStore,
  InMemoryStore,
  ProcessManagerRunner,
  type Subscription
} from "@eventline/core"
import { PgCommitSignal, PgEventStore, PgStore, PgSubscriptionStores } from "@eventline/postgres"
import { TestEnvironment } from "@eventline/testing"
import { Effect, Exit, Layer, Ref, Schedule, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { inject } from "vitest"
import { freshDatabase } from "../../postgres/test/utils.ts"
import { FulfilmentSaga, InventoryAggregate, InventoryCommand, OrderAggregate, OrderCommand } from "../src/index.ts"

const databaseUrl = inject("databaseUrl")

const Bus = CommandBus.layer([
  CommandBus.fromAggregate(OrderAggregate.OrderAggregate),
  CommandBus.fromAggregate(InventoryAggregate.InventoryAggregate)
])

const restock = (productId: string, quantity: number) =>
  InventoryCommand.InventoryCommand.cases.Restock.make({ productId, quantity })
const createOrder = (orderId: string, items: ReadonlyArray<readonly [string, number]>) =>
  OrderCommand.OrderCommand.cases.CreateOrder.make({
    orderId,
    customerId: "dana",
    items: items.map(([productId, quantity]) => ({ productId, quantity, price: 100 }))
  })
const confirm = (orderId: string) => OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId })

const orderOf = (orderId: string) =>
  Effect.map(
    CommandHandler.load(OrderAggregate.OrderAggregate, OrderAggregate.streamIdOf(orderId)),
    (loaded) => loaded.state
  )
const stockOf = (productId: string) =>
  Effect.map(
    CommandHandler.load(InventoryAggregate.InventoryAggregate, InventoryAggregate.streamIdOf(productId)),
    (loaded) => loaded.state
  )
/** The types of a product's stock events, with the order each names. */
const eventTypes = (productId: string) =>
  EventStore.EventStore.use((store) =>
    Stream.runCollect(store.readStream(InventoryAggregate.streamIdOf(productId))).pipe(
      Effect.map((events) =>
        events.map(
          (event) =>
            `${event.type}${"orderId" in (event.data as object) ? `:${(event.data as { orderId: string }).orderId}` : ""}`
        )
      ),
      Effect.orElseSucceed(() => [])
    )
  )
const cancellationsOf = (orderId: string) =>
  EventStore.EventStore.use((store) =>
    Stream.runCollect(store.readStream(OrderAggregate.streamIdOf(orderId))).pipe(
      Effect.map((events) => events.filter((event) => event.type === "OrderCancelled").map((event) => event.data)),
      Effect.orElseSucceed(() => [])
    )
  )

/** Run until the saga has nothing left to do (its own commands produce events it follows). */
const settle = (handle: ProcessManagerRunner.Handle<FulfilmentSaga.FulfilmentState>) =>
  Effect.andThen(handle.subscription.caughtUp, handle.subscription.lag).pipe(
    Effect.repeat({ until: (lag) => lag.events === 0 })
  )

const startIn = (scope: Scope.Scope, options?: FulfilmentSaga.FulfilmentOptions & ProcessManagerRunner.Options) =>
  ProcessManagerRunner.start(FulfilmentSaga.make(options), options).pipe(Scope.provide(scope))

/** A scope of its own (so a test can stop a runner), also closed when the test ends, pass or fail. */
const runnerScope: Effect.Effect<Scope.Closeable, never, Scope.Scope> = Effect.gen(function* () {
  const scope = yield* Scope.make()
  yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
  return scope
})

describe("FulfilmentSaga (pure)", () => {
  const saga = FulfilmentSaga.make()
  const fold = (inputs: ReadonlyArray<FulfilmentSaga.FulfilmentInput>) =>
    Decider.fold({ initialState: saga.initialState, evolve: saga.evolve, decide: () => Decider.accept() }, inputs)
  const placed = FulfilmentSaga.FulfilmentInput.cases.OrderPlaced.make({
    orderId: "o-1",
    lines: [
      { productId: "p-1", quantity: 2 },
      { productId: "p-2", quantity: 1 }
    ],
    placedAt: "2026-01-01T00:00:00.000Z"
  })

  it("sets the expiry deadline when an order is placed, and reserves every product on confirmation", () => {
    const reaction = saga.react(saga.initialState, placed)
    assert.deepStrictEqual(
      reaction.deadlines?.map((d) => [d.id, d.at]),
      [["expire", "2026-01-01T00:15:00.000Z"]]
    )
    const reserve = saga.react(fold([placed]), FulfilmentSaga.FulfilmentInput.cases.OrderConfirmed.make({}))
    assert.deepStrictEqual(
      reserve.commands.map((command) => JSON.stringify(command)),
      [
        JSON.stringify({ _tag: "Reserve", productId: "p-1", orderId: "o-1", quantity: 2 }),
        JSON.stringify({ _tag: "Reserve", productId: "p-2", orderId: "o-1", quantity: 1 })
      ]
    )
  })

  it("releases what it holds and cancels when the last answer brings a refusal; expires only pending orders", () => {
    const reserving = fold([placed, FulfilmentSaga.FulfilmentInput.cases.OrderConfirmed.make({})])
    const oneReserved = saga.evolve(
      reserving,
      FulfilmentSaga.FulfilmentInput.cases.StockReserved.make({ productId: "p-1" })
    )
    const reaction = saga.react(
      oneReserved,
      FulfilmentSaga.FulfilmentInput.cases.ReservationRejected.make({ productId: "p-2" })
    )
    assert.deepStrictEqual(
      reaction.commands.map((command) => command._tag),
      ["Release", "CancelOrder"]
    )
    assert.deepInclude(reaction.commands[1], { reason: "out of stock", orderId: "o-1" })
    const expired = FulfilmentSaga.FulfilmentInput.cases.OrderExpired.make({})
    assert.deepStrictEqual(saga.react(reserving, expired).commands, [], "a confirmed order does not expire")
    assert.deepInclude(saga.react(fold([placed]), expired).commands[0], { _tag: "CancelOrder", reason: "expired" })
  })

  it("commits the reservations once the last one is in, never reserves again, and returns the stock on a cancel", () => {
    const confirmed = FulfilmentSaga.FulfilmentInput.cases.OrderConfirmed.make({})
    const reservedP1 = FulfilmentSaga.FulfilmentInput.cases.StockReserved.make({ productId: "p-1" })
    const reservedP2 = FulfilmentSaga.FulfilmentInput.cases.StockReserved.make({ productId: "p-2" })
    const oneReserved = fold([placed, confirmed, reservedP1])
    assert.deepStrictEqual(
      saga.react(oneReserved, reservedP2).commands.map((command) => JSON.stringify(command)),
      [
        JSON.stringify({ _tag: "CommitReservation", productId: "p-1", orderId: "o-1" }),
        JSON.stringify({ _tag: "CommitReservation", productId: "p-2", orderId: "o-1" })
      ]
    )
    const done = saga.evolve(oneReserved, reservedP2)
    assert.strictEqual(done.status, "Reserved")
    // a Reserve after the commit would reserve anew: the saga sends none once it is done
    assert.deepStrictEqual(saga.react(done, confirmed).commands, [])
    assert.deepStrictEqual(saga.react(done, reservedP2).commands, [])
    assert.deepStrictEqual(
      saga
        .react(done, FulfilmentSaga.FulfilmentInput.cases.OrderCancelled.make({}))
        .commands.map((command) => JSON.stringify(command)),
      [
        JSON.stringify({ _tag: "ReturnStock", productId: "p-1", orderId: "o-1", quantity: 2 }),
        JSON.stringify({ _tag: "ReturnStock", productId: "p-2", orderId: "o-1", quantity: 1 })
      ]
    )
  })
})

layer(Bus.pipe(Layer.provideMerge(PgStore.layerEmbedded())), { excludeTestServices: true, timeout: "120 seconds" })(
  "FulfilmentSaga on PGlite",
  (it) => {
    it.effect(
      "restock, confirm, reserve; an order that cannot be served releases its stock and is cancelled out of stock",
      () =>
        Effect.gen(function* () {
          const bus = yield* CommandBus.CommandBus
          const scope = yield* runnerScope
          const handle = yield* startIn(scope)
          yield* bus.dispatch(restock("life-p1", 5))
          yield* bus.dispatch(restock("life-p2", 1))

          yield* bus.dispatch(
            createOrder("life-o1", [
              ["life-p1", 2],
              ["life-p2", 1]
            ])
          )
          yield* bus.dispatch(confirm("life-o1"))
          yield* settle(handle)
          assert.strictEqual((yield* orderOf("life-o1")).status, "Confirmed")
          // every item reserved: the reservations are committed, the stock stays sold
          assert.deepStrictEqual(yield* stockOf("life-p1"), { available: 3, reservations: {} })
          assert.deepStrictEqual(yield* stockOf("life-p2"), { available: 0, reservations: {} })

          yield* bus.dispatch(
            createOrder("life-o2", [
              ["life-p1", 1],
              ["life-p2", 1]
            ])
          )
          yield* bus.dispatch(confirm("life-o2"))
          yield* settle(handle)
          assert.strictEqual((yield* orderOf("life-o2")).status, "Cancelled")
          const cancellations = yield* cancellationsOf("life-o2")
          assert.strictEqual(cancellations.length, 1)
          assert.deepInclude(cancellations[0], { reason: "out of stock" })
          assert.deepStrictEqual(yield* stockOf("life-p1"), { available: 3, reservations: {} })
          assert.deepStrictEqual(yield* eventTypes("life-p1"), [
            "StockRestocked",
            "StockReserved:life-o1",
            "StockCommitted:life-o1",
            "StockReserved:life-o2",
            "StockReleased:life-o2"
          ])
          assert.strictEqual((yield* handle.state("life-o2")).status, "Closed")

          // the confirmed order is cancelled after its sale: its stock comes back
          yield* bus.dispatch(
            OrderCommand.OrderCommand.cases.CancelOrder.make({ orderId: "life-o1", reason: "returned" })
          )
          yield* settle(handle)
          assert.deepStrictEqual(yield* stockOf("life-p1"), { available: 5, reservations: {} })
          assert.deepStrictEqual(yield* stockOf("life-p2"), { available: 1, reservations: {} })
          assert.deepStrictEqual((yield* eventTypes("life-p2")).slice(-1), ["StockReturned:life-o1"])
          yield* Scope.close(scope, Exit.void)
        }),
      60_000
    )

    it.effect(
      "a crash between the reservation and the order's cancellation: after a restart it completes exactly once",
      () =>
        Effect.gen(function* () {
          const bus = yield* CommandBus.CommandBus
          yield* bus.dispatch(restock("crash-p1", 5))
          yield* bus.dispatch(
            createOrder("crash-o1", [
              ["crash-p1", 1],
              ["crash-p2", 1]
            ])
          )

          // the first runner's bus fails every CancelOrder: its whole step rolls back, reservations too
          const failures = yield* Ref.make(0)
          const failingBus = CommandBus.CommandBus.of({
            ...bus,
            dispatch: (command, context) =>
              command._tag === "CancelOrder"
                ? Effect.andThen(
                    Ref.update(failures, (n) => n + 1),
                    Effect.fail(new Errors.InfrastructureError({ operation: "crash", cause: "the process died" }))
                  )
                : bus.dispatch(command, context)
          })
          const first = yield* runnerScope
          const crashing = yield* startIn(first, { retry: Schedule.spaced("1 hour") }).pipe(
            Effect.provideService(CommandBus.CommandBus, failingBus)
          )
          yield* bus.dispatch(confirm("crash-o1"))
          yield* Ref.get(failures).pipe(
            Effect.repeat({ until: (n) => n > 0, schedule: Schedule.spaced("20 millis") }),
            Effect.timeout("20 seconds")
          )
          assert.strictEqual((yield* orderOf("crash-o1")).status, "Confirmed", "the cancellation never happened")
          yield* Scope.close(first, Exit.void)
          assert.isFalse(yield* crashing.subscription.isActive)

          const second = yield* runnerScope
          const handle = yield* startIn(second)
          yield* settle(handle)
          assert.strictEqual((yield* orderOf("crash-o1")).status, "Cancelled")
          assert.strictEqual((yield* cancellationsOf("crash-o1")).length, 1)
          assert.deepStrictEqual(yield* stockOf("crash-p1"), { available: 5, reservations: {} })
          assert.deepStrictEqual(yield* eventTypes("crash-p1"), [
            "StockRestocked",
            "StockReserved:crash-o1",
            "StockReleased:crash-o1"
          ])
          yield* Scope.close(second, Exit.void)
        }),
      60_000
    )
  }
)

// the same runner on any store: PGlite (SQL ports, transactions) and the in-memory ports
const deadlinesUnderTestClock = (
  backend: string,
  store: Layer.Layer<Subscription.Services | DeadlineStore.DeadlineStore, unknown>
) =>
  layer(Bus.pipe(Layer.provideMerge(store)), { timeout: "120 seconds" })(
    `FulfilmentSaga deadlines under the TestClock on ${backend}`,
    (it) => {
      it.effect(
        "an order still pending 15 minutes after it was placed is cancelled as expired, across a restart; a confirmed one is not",
        () =>
          Effect.gen(function* () {
            const bus = yield* CommandBus.CommandBus
            yield* bus.dispatch(restock("clock-p1", 10))
            const first = yield* runnerScope
            const before = yield* startIn(first, { leaseTtl: "1 hour" })
            yield* bus.dispatch(createOrder("clock-pending", [["clock-p1", 1]]))
            yield* bus.dispatch(createOrder("clock-confirmed", [["clock-p1", 1]]))
            yield* bus.dispatch(confirm("clock-confirmed"))
            yield* settle(before)
            yield* Scope.close(first, Exit.void)

            // a new process: the deadlines were stored, not held in memory
            const second = yield* runnerScope
            const after = yield* startIn(second, { leaseTtl: "1 hour" })
            yield* TestClock.adjust("14 minutes")
            assert.strictEqual(yield* after.fireDueDeadlines, 0)
            assert.strictEqual((yield* orderOf("clock-pending")).status, "Pending")

            yield* TestClock.adjust("2 minutes")
            yield* after.fireDueDeadlines
            yield* settle(after)
            assert.strictEqual((yield* orderOf("clock-pending")).status, "Cancelled")
            assert.deepInclude((yield* cancellationsOf("clock-pending"))[0], { reason: "expired" })
            assert.strictEqual((yield* orderOf("clock-confirmed")).status, "Confirmed")
            assert.strictEqual(yield* after.fireDueDeadlines, 0, "each deadline fires once")
            yield* Scope.close(second, Exit.void)
          }),
        60_000
      )
    }
  )

deadlinesUnderTestClock("PGlite", PgStore.layerEmbedded())
deadlinesUnderTestClock("the in-memory store", InMemoryStore.layer)

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))(
  "FulfilmentSaga on PostgreSQL",
  () => {
    layer(
      Bus.pipe(
        Layer.provideMerge(Layer.mergeAll(PgEventStore.layer, PgCommitSignal.layer, PgSubscriptionStores.layer)),
        Layer.provideMerge(freshDatabase(databaseUrl ?? ""))
      ),
      // the TestClock: a deadline fires when the test moves the clock, never because the runner was slow
      { timeout: "120 seconds" }
    )("short deadlines", (it) => {
      it.effect(
        "a pending order is cancelled as expired when its short deadline passes; a confirmed one that is out of stock is cancelled as such, however slow the runner",
        () =>
          Effect.gen(function* () {
            const bus = yield* CommandBus.CommandBus
            const scope = yield* runnerScope
            // deadlines fire when the test says so (the poller would fire them on `adjust` as well)
            const handle = yield* startIn(scope, {
              expireAfter: "1 second",
              leaseTtl: "1 hour",
              deadlinePollInterval: "1 day"
            })
            yield* bus.dispatch(restock("pg-p1", 1))
            yield* bus.dispatch(createOrder("pg-expiring", [["pg-p1", 1]]))
            yield* settle(handle)
            assert.strictEqual(yield* handle.fireDueDeadlines, 0, "not due before the clock moves")
            yield* TestClock.adjust("2 seconds")
            assert.strictEqual(yield* handle.fireDueDeadlines, 1)
            yield* settle(handle)
            assert.strictEqual((yield* orderOf("pg-expiring")).status, "Cancelled")
            assert.deepInclude((yield* cancellationsOf("pg-expiring"))[0], { reason: "expired" })

            // the clock stands still while the saga works: its deadline cannot overtake the confirmation
            yield* bus.dispatch(
              createOrder("pg-short", [
                ["pg-p1", 1],
                ["pg-p2", 3]
              ])
            )
            yield* bus.dispatch(confirm("pg-short"))
            yield* settle(handle)
            assert.strictEqual((yield* orderOf("pg-short")).status, "Cancelled")
            assert.deepInclude((yield* cancellationsOf("pg-short"))[0], { reason: "out of stock" })
            assert.deepStrictEqual(yield* stockOf("pg-p1"), { available: 1, reservations: {} })
            // and once it passes, the deadline of the closed order does nothing
            yield* TestClock.adjust("2 seconds")
            yield* handle.fireDueDeadlines
            yield* settle(handle)
            assert.strictEqual((yield* cancellationsOf("pg-short")).length, 1)
            yield* Scope.close(scope, Exit.void)
          }),
        60_000
      )
    })
  }
)
