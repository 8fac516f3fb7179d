/**
 * A store written by 0.2 (OrderCreated at version 1, no currency) read by this code (OrderCreated
 * at version 2): the rows are written the way 0.2's command handler wrote them, through the
 * store, and then command handling, the read model, the saga and the customer statistics run
 * over them. Nothing is rewritten: the stored rows stay at version 1.
 */
import { assert, layer } from "@effect/vitest"
import {
  CommandBus,
  CommandHandler,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  ProcessManagerRunner,
  Relay,
  Subscription
} from "@eventline/core"
import { PgEventBus, PgStore } from "@eventline/postgres"
import { Effect, Layer, Option, References, Schedule, Stream } from "effect"
import {
  CustomerStatistics,
  FulfilmentSaga,
  InventoryAggregate,
  InventoryCommand,
  Layers,
  OrderAggregate,
  OrderCommand,
  OrderReadModel
} from "../src/index.ts"

const Services = Layer.mergeAll(Layers.readSide, PgEventBus.layer({ pollInterval: "50 millis" })).pipe(
  Layer.provideMerge(Layers.commandBus),
  Layer.provideMerge(PgStore.layerEmbedded()),
  Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error"))
)

// now: the saga's expiry deadlines (15 minutes after) stay out of the way
const at = new Date().toISOString()

/** An event as 0.2's command handler appended it: `schemaVersion` 1, its data shape, its metadata. */
const v1 = (type: string, data: EventEnvelope.NewEvent["data"]): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: `v1-${type}`, occurredAt: at }
})

const createdV1 = (customerId: string, productId: string, quantity: number, price: number) =>
  v1("OrderCreated", { customerId, items: [{ productId, quantity, price }], totalAmount: quantity * price })

/** One append per command, at the version the handler had loaded (`Exact`), as 0.2 did. */
const seed = (orderId: string, events: ReadonlyArray<EventEnvelope.NewEvent>) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    for (const [index, event] of events.entries()) {
      yield* store.append(OrderAggregate.streamIdOf(orderId), ExpectedVersion.exact(index), [event], {
        streamType: OrderAggregate.streamType
      })
    }
  })

const eventsOf = (streamId: string) =>
  EventStore.EventStore.use((store) => Stream.runCollect(store.readStream(streamId)))

layer(Services, { excludeTestServices: true, timeout: "120 seconds" })("Order events of version 1", (it) => {
  it.effect(
    "written by 0.2, are read by commands, the read model, the saga and the statistics",
    () =>
      Effect.gen(function* () {
        const bus = yield* CommandBus.CommandBus
        yield* bus.dispatch(InventoryCommand.InventoryCommand.cases.Restock.make({ productId: "book", quantity: 10 }))
        yield* seed("up-a", [createdV1("ada", "book", 2, 500)])
        yield* seed("up-b", [createdV1("ada", "book", 1, 700), v1("OrderConfirmed", { confirmedAt: at })])
        yield* seed("up-c", [
          createdV1("bob", "book", 3, 100),
          v1("OrderCancelled", { reason: "changed my mind", cancelledAt: at })
        ])

        // command handling folds the version 1 history, then appends at the current versions
        const confirmed = yield* bus.dispatch(OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId: "up-a" }))
        assert.strictEqual(confirmed.version, 2)
        const again = yield* Effect.flip(
          bus.dispatch(
            OrderCommand.OrderCommand.cases.CreateOrder.make({
              orderId: "up-b",
              customerId: "ada",
              items: [{ productId: "book", quantity: 1, price: 1 }]
            })
          )
        )
        assert.deepInclude(again, { _tag: "DecisionRejected", streamId: "Order-up-b" })
        assert.strictEqual(
          again._tag === "DecisionRejected" ? (again.rejection as { _tag: string })._tag : "",
          "OrderAlreadyExists"
        )
        yield* bus.dispatch(OrderCommand.OrderCommand.cases.CancelOrder.make({ orderId: "up-b", reason: "late" }))
        const created = yield* bus.dispatch(
          OrderCommand.OrderCommand.cases.CreateOrder.make({
            orderId: "up-d",
            customerId: "cy",
            currency: "USD",
            items: [{ productId: "pen", quantity: 4, price: 25 }]
          })
        )
        assert.deepStrictEqual(
          created.events.map((event) => [event.type, event.schemaVersion, event.data]),
          [
            [
              "OrderCreated",
              2,
              {
                customerId: "cy",
                currency: "USD",
                items: [{ productId: "pen", quantity: 4, price: 25 }],
                totalAmount: 100
              }
            ]
          ]
        )
        const loaded = yield* CommandHandler.load(OrderAggregate.OrderAggregate, OrderAggregate.streamIdOf("up-a"))
        assert.deepStrictEqual(loaded, {
          state: {
            status: "Confirmed",
            customerId: "ada",
            currency: "EUR",
            items: [{ productId: "book", quantity: 2, price: 500 }],
            totalAmount: 1000
          },
          version: 2,
          snapshotVersion: 0
        })

        // the read model projects the old rows like new ones
        const readModel = yield* Subscription.start(OrderReadModel.subscription())
        yield* readModel.caughtUp
        const queries = yield* OrderReadModel.OrderQueries
        const view = (orderId: string) =>
          Effect.map(queries.byId(orderId), (found) =>
            Option.map(found, ({ orderId, customerId, status, totalAmount, itemCount, version }) => ({
              orderId,
              customerId,
              status,
              totalAmount,
              itemCount,
              version
            }))
          )
        assert.deepStrictEqual(Option.getOrUndefined(yield* view("up-a")), {
          orderId: "up-a",
          customerId: "ada",
          status: "confirmed",
          totalAmount: 1000,
          itemCount: 1,
          version: 2
        })
        assert.deepInclude(Option.getOrUndefined(yield* view("up-b")), { status: "cancelled", version: 3 })
        assert.deepInclude(Option.getOrUndefined(yield* view("up-c")), { status: "cancelled", totalAmount: 300 })
        assert.deepInclude(Option.getOrUndefined(yield* view("up-d")), { status: "pending", totalAmount: 100 })
        assert.deepStrictEqual(yield* readModel.deadLetters(), [])

        // the saga reads the placed lines of version 1 orders: up-a's book is reserved, up-b's released
        const saga = yield* ProcessManagerRunner.start(FulfilmentSaga.make())
        yield* Effect.andThen(saga.subscription.caughtUp, saga.subscription.lag).pipe(
          Effect.repeat({ until: (lag) => lag.events === 0, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("30 seconds")
        )
        assert.deepInclude(yield* saga.state("up-a"), {
          status: "Reserved",
          lines: [{ productId: "book", quantity: 2 }]
        })
        assert.deepStrictEqual(yield* saga.subscription.deadLetters(), [])
        const stock = yield* CommandHandler.load(
          InventoryAggregate.InventoryAggregate,
          InventoryAggregate.streamIdOf("book")
        )
        // up-a is fully reserved, so the saga committed it: sold, and out of the product's state
        assert.deepStrictEqual(stock.state, { available: 8, reservations: {} })

        // the statistics consumer counts them
        const relay = yield* Relay.start({ streamTypes: [OrderAggregate.streamType] })
        const consumer = yield* CustomerStatistics.run()
        yield* consumer.ready
        yield* relay.caughtUp
        const stats = yield* CustomerStatistics.CustomerStatistics
        const ada = yield* stats.byCustomer("ada").pipe(
          Effect.repeat({
            until: (found) =>
              Option.isSome(found) && found.value.ordersConfirmed === 2 && found.value.ordersCancelled === 1,
            schedule: Schedule.spaced("20 millis")
          }),
          Effect.timeout("20 seconds")
        )
        assert.deepStrictEqual(Option.getOrUndefined(ada), {
          customerId: "ada",
          ordersCreated: 2,
          ordersConfirmed: 2,
          ordersCancelled: 1,
          totalAmount: 1000 + 700
        })
        const cy = yield* stats
          .byCustomer("cy")
          .pipe(
            Effect.repeat({ until: Option.isSome, schedule: Schedule.spaced("20 millis") }),
            Effect.timeout("20 seconds")
          )
        assert.deepInclude(Option.getOrUndefined(cy), { ordersCreated: 1, totalAmount: 100 })

        // and the stored rows were not rewritten
        const stored = yield* eventsOf(OrderAggregate.streamIdOf("up-a"))
        assert.deepStrictEqual(
          stored.map((event) => [event.type, event.schemaVersion]),
          [
            ["OrderCreated", 1],
            ["OrderConfirmed", 1]
          ]
        )
        assert.deepStrictEqual(stored[0]?.data, {
          customerId: "ada",
          items: [{ productId: "book", quantity: 2, price: 500 }],
          totalAmount: 1000
        })
      }),
    120_000
  )
})
