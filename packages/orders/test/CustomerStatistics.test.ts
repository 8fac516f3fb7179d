import { assert, layer } from "@effect/vitest"
import { CommandBus, EventBus, EventStore, Relay } from "@eventline/core"
import { PgEventBus, PgStore } from "@eventline/postgres"
import { Effect, Layer, Option, References, Schedule, Stream } from "effect"
import { CustomerStatistics, OrderAggregate, OrderCommand, OrderMigrations } from "../src/index.ts"

const Services = Layer.mergeAll(
  CommandBus.layer([CommandBus.fromAggregate(OrderAggregate.OrderAggregate)]),
  PgEventBus.layer({ pollInterval: "100 millis" }),
  CustomerStatistics.layer.pipe(Layer.provide(OrderMigrations.layer))
).pipe(
  Layer.provideMerge(PgStore.layerEmbedded()),
  Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error"))
)

layer(Services, { excludeTestServices: true, timeout: "120 seconds" })(
  "CustomerStatistics (relay -> store-backed bus -> consumer)",
  (it) => {
    it.effect(
      "counts every order once per customer, even when the bus delivers events again",
      () =>
        Effect.gen(function* () {
          const bus = yield* CommandBus.CommandBus
          const events = yield* EventBus.EventBus
          const store = yield* EventStore.EventStore
          const stats = yield* CustomerStatistics.CustomerStatistics
          const relay = yield* Relay.start({ streamTypes: [OrderAggregate.streamType] })
          const consumer = yield* CustomerStatistics.run()
          yield* consumer.ready
          const create = (orderId: string, customerId: string, price: number) =>
            bus.dispatch(
              OrderCommand.OrderCommand.cases.CreateOrder.make({
                orderId,
                customerId,
                items: [{ productId: "p", quantity: 2, price }]
              })
            )
          yield* create("cs-1", "erin", 500)
          yield* create("cs-2", "erin", 250)
          yield* create("cs-3", "frank", 100)
          yield* bus.dispatch(OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId: "cs-1" }))
          yield* bus.dispatch(OrderCommand.OrderCommand.cases.CancelOrder.make({ orderId: "cs-2", reason: "changed" }))
          yield* relay.caughtUp

          // at least once: the same events arrive again, as after a relay restart
          const everything = yield* Stream.runCollect(store.readAll({ streamTypes: [OrderAggregate.streamType] }))
          yield* events.publish(CustomerStatistics.topic, everything)

          const expected = {
            customerId: "erin",
            ordersCreated: 2,
            ordersConfirmed: 1,
            ordersCancelled: 1,
            totalAmount: 1500
          }
          const erin = yield* stats.byCustomer("erin").pipe(
            Effect.repeat({
              until: (found) => Option.isSome(found) && found.value.ordersCancelled === 1,
              schedule: Schedule.spaced("20 millis")
            }),
            Effect.timeout("20 seconds")
          )
          // wait until the consumer committed every record, repeats included: they were handled (and dropped)
          const durable = yield* PgEventBus.PgEventBus
          yield* durable.committed("customer-statistics", CustomerStatistics.topic).pipe(
            Effect.repeat({
              until: (offset) => Option.getOrElse(offset, () => 0) >= 2 * everything.length,
              schedule: Schedule.spaced("20 millis")
            }),
            Effect.timeout("20 seconds")
          )
          assert.strictEqual(yield* durable.lag("customer-statistics", CustomerStatistics.topic), 0)
          assert.deepStrictEqual(Option.getOrUndefined(yield* stats.byCustomer("erin")), expected)
          assert.deepStrictEqual(Option.getOrUndefined(erin), expected)
          assert.deepInclude(Option.getOrUndefined(yield* stats.byCustomer("frank")), {
            ordersCreated: 1,
            totalAmount: 200
          })
          assert.isTrue(Option.isNone(yield* stats.byCustomer("nobody")))
        }),
      60_000
    )
  }
)
