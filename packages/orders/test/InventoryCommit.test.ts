import { assert, layer } from "@effect/vitest"
import { CommandBus, CommandHandler, EventStore, ProcessManagerRunner } from "@eventline/core"
import { PgStore } from "@eventline/postgres"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { FulfilmentSaga, InventoryAggregate, InventoryCommand, OrderAggregate, OrderCommand } from "../src/index.ts"

const Bus = CommandBus.layer([
  CommandBus.fromAggregate(OrderAggregate.OrderAggregate),
  CommandBus.fromAggregate(InventoryAggregate.InventoryAggregate)
])

const stockOf = (productId: string) =>
  Effect.map(
    CommandHandler.load(InventoryAggregate.InventoryAggregate, InventoryAggregate.streamIdOf(productId)),
    (loaded) => loaded.state
  )
const eventTypes = (productId: string) =>
  EventStore.EventStore.use((store) =>
    Stream.runCollect(store.readStream(InventoryAggregate.streamIdOf(productId))).pipe(
      Effect.map((events) => events.map((event) => event.type))
    )
  )

const settle = (handle: ProcessManagerRunner.Handle<FulfilmentSaga.FulfilmentState>) =>
  Effect.andThen(handle.subscription.caughtUp, handle.subscription.lag).pipe(
    Effect.repeat({ until: (lag) => lag.events === 0 }),
    Effect.timeout("60 seconds")
  )

layer(Bus.pipe(Layer.provideMerge(PgStore.layerEmbedded())), { excludeTestServices: true, timeout: "120 seconds" })(
  "Inventory reservations are committed on PGlite",
  (it) => {
    it.effect(
      "after N orders are confirmed and fully reserved, the product's state holds none of them",
      () =>
        Effect.gen(function* () {
          const bus = yield* CommandBus.CommandBus
          const scope = yield* Scope.make()
          const handle = yield* ProcessManagerRunner.start(FulfilmentSaga.make(), {}).pipe(Scope.provide(scope))
          const orders = Array.from({ length: 40 }, (_, n) => `commit-o${n}`)
          yield* bus.dispatch(InventoryCommand.Restock.make({ productId: "commit-p1", quantity: 100 }))
          yield* bus.dispatch(InventoryCommand.Restock.make({ productId: "commit-p2", quantity: 100 }))
          for (const orderId of orders) {
            yield* bus.dispatch(
              OrderCommand.OrderCommand.cases.CreateOrder.make({
                orderId,
                customerId: "dana",
                items: [
                  { productId: "commit-p1", quantity: 2, price: 100 },
                  { productId: "commit-p2", quantity: 1, price: 100 }
                ]
              })
            )
            yield* bus.dispatch(OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId }))
          }
          yield* settle(handle)
          // on the code before the commit: 40 entries each, one per order ever served
          assert.deepStrictEqual(yield* stockOf("commit-p1"), { available: 20, reservations: {} })
          assert.deepStrictEqual(yield* stockOf("commit-p2"), { available: 60, reservations: {} })
          const types = yield* eventTypes("commit-p1")
          assert.strictEqual(types.filter((type) => type === "StockCommitted").length, orders.length)
          yield* Scope.close(scope, Exit.void)
        }),
      120_000
    )

    it.effect("a Reserve redelivered after its order's commit is answered by its command id, not reserved twice", () =>
      Effect.gen(function* () {
        const bus = yield* CommandBus.CommandBus
        const reserve = InventoryCommand.Reserve.make({ productId: "redeliver-p", orderId: "redeliver-o", quantity: 2 })
        yield* bus.dispatch(InventoryCommand.Restock.make({ productId: "redeliver-p", quantity: 5 }))
        yield* bus.dispatch(reserve, { commandId: "reserve-redeliver-o" })
        yield* bus.dispatch(
          InventoryCommand.CommitReservation.make({ productId: "redeliver-p", orderId: "redeliver-o" }),
          { commandId: "commit-redeliver-o" }
        )
        // the state no longer knows the order: the decider would reserve again, the store refuses the event id
        const again = yield* bus.dispatch(reserve, { commandId: "reserve-redeliver-o" })
        assert.isTrue(again.duplicate)
        assert.deepStrictEqual(yield* stockOf("redeliver-p"), { available: 3, reservations: {} })
        assert.deepStrictEqual(yield* eventTypes("redeliver-p"), ["StockRestocked", "StockReserved", "StockCommitted"])
      })
    )
  }
)
