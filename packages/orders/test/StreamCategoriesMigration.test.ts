/**
 * `OrderMigrations` 0003: a store written before streams had categories (order streams named by
 * the raw order id, stock streams by the raw product id, the saga's `Fulfilment-<orderId>`) is
 * renamed in one transaction, and the service's paths then work over it: commands load the old
 * history (snapshot and tail), the saga continues its instances without handling an input twice,
 * the read model updates its rows, dead letters and statistics' owners follow their streams. A
 * squatter's order named like a saga stream becomes an Order stream of its own.
 */
import { assert, layer } from "@effect/vitest"
import {
  Aggregate,
  CommandBus,
  CommandHandler,
  DeadLetterStore,
  DeadlineStore,
  EventStore,
  ExpectedVersion,
  ProcessManagerRunner,
  Uuid
} from "@eventline/core"
import { Migrations, PgStore } from "@eventline/postgres"
import { Effect, Exit, Schema, Scope, Stream } from "effect"
import { SqlClient } from "effect/sql"
import {
  FulfilmentSaga,
  InventoryAggregate,
  InventoryCommand,
  InventoryDecider,
  OrderAggregate,
  OrderCommand,
  OrderMigrations,
  OrderReadModel
} from "../src/index.ts"

// the aggregates as they were before 0.3.0: no category, the raw id is the stream id
const legacyOrders = { ...OrderAggregate.OrderAggregate, category: undefined }
const legacyInventory = {
  ...InventoryAggregate.InventoryAggregate,
  category: undefined,
  snapshot: { state: InventoryDecider.InventoryState, schemaVersion: 1, every: 2 }
}
const LegacyBus = CommandBus.layer([CommandBus.fromAggregate(legacyOrders), CommandBus.fromAggregate(legacyInventory)])
const Bus = CommandBus.layer([
  CommandBus.fromAggregate(OrderAggregate.OrderAggregate),
  CommandBus.fromAggregate({
    ...InventoryAggregate.InventoryAggregate,
    snapshot: { state: InventoryDecider.InventoryState, schemaVersion: 1, every: 2 }
  })
])

const create = (orderId: string, productId: string, quantity: number) =>
  OrderCommand.CreateOrder.make({ orderId, customerId: "dana", items: [{ productId, quantity, price: 100 }] })

const FulfilmentInputJson = Schema.toCodecJson(FulfilmentSaga.FulfilmentInput)

/** The orders migrations before 0.3.0 (0001 and 0002), as a store of that release has them. */
const legacyOrderMigrations = (schema: string) => {
  const { "0003_stream_categories": _, ...before } = OrderMigrations.migrations(schema)
  return before
}

layer(PgStore.layerEmbedded(), { excludeTestServices: true, timeout: "120 seconds" })(
  "stream categories migration (OrderMigrations 0003)",
  (it) => {
    it.effect("renames a store written the old way, and every service path works over it", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const store = yield* EventStore.EventStore
        yield* Migrations.runFor("orders", legacyOrderMigrations)

        // --- written the way 0.2 wrote it ---
        const legacy = yield* CommandBus.CommandBus.pipe(Effect.provide(LegacyBus))
        yield* legacy.dispatch(InventoryCommand.Restock.make({ productId: "p1", quantity: 5 }))
        yield* legacy.dispatch(InventoryCommand.Restock.make({ productId: "p1", quantity: 1 }))
        yield* legacy.dispatch(InventoryCommand.Restock.make({ productId: "p1", quantity: 1 }))
        const o1 = yield* legacy.dispatch(create("o1", "p1", 2))
        yield* legacy.dispatch(create("o2", "p1", 1))
        // written after o1: a product whose id is the new name of order o1's stream: the renames must not collide
        yield* legacy.dispatch(InventoryCommand.Restock.make({ productId: "Order-o1", quantity: 1 }))
        // a squatter of 0.2: an order named like the saga's stream of the order "victim"
        yield* legacy.dispatch(create("Fulfilment-victim", "p1", 1))
        // the 0.2 saga's instance of o1: its input recorded, its deadline stored
        const source = o1.events[0]?.eventId ?? ""
        const placed = FulfilmentSaga.FulfilmentInput.cases.OrderPlaced.make({
          orderId: "o1",
          lines: [{ productId: "p1", quantity: 2 }],
          placedAt: o1.events[0]?.metadata.occurredAt ?? ""
        })
        yield* store.append(
          "Fulfilment-o1",
          ExpectedVersion.NoStream,
          [
            {
              eventId: Uuid.fromParts("Fulfilment", "o1", source),
              type: "InputHandled",
              schemaVersion: 1,
              data: { source, input: Schema.encodeSync(FulfilmentInputJson)(placed) },
              metadata: { correlationId: "o1", causationId: source, occurredAt: new Date().toISOString() }
            }
          ],
          { streamType: "Fulfilment" }
        )
        const deadlines = yield* DeadlineStore.DeadlineStore
        yield* deadlines.scheduleAll([
          {
            processManager: "Fulfilment",
            deadlineId: "o1/expire",
            instanceKey: "o1",
            dueAt: new Date(Date.now() + 3_600_000),
            input: { _tag: "OrderExpired" }
          }
        ])
        // the 0.2 read model's rows, statistics' owners and a dead letter, keyed as 0.2 keyed them
        const orders = sql("eventline.order_read_models")
        for (const id of ["o1", "o2"]) {
          yield* sql`INSERT INTO ${orders} (id, customer_id, status, total_amount, item_count, created_at, updated_at, version)
            VALUES (${id}, 'dana', 'pending', 100, 1, now(), now(), 1)`
          yield* sql`INSERT INTO ${sql("eventline.customer_order_owners")} (order_id, customer_id) VALUES (${id}, 'dana')`
        }
        const o2Created = (yield* Stream.runCollect(store.readStream("o2")))[0]
        if (o2Created === undefined) return assert.fail("o2 was written")
        const deadLetters = yield* DeadLetterStore.DeadLetterStore
        const failedAt = new Date()
        yield* deadLetters.park("order-read-model", o2Created, {
          error: "boom",
          attempts: 3,
          firstFailedAt: failedAt,
          lastFailedAt: failedAt
        })
        const before = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql("eventline.events")}`
        assert.isTrue((yield* sql`SELECT 1 FROM ${sql("eventline.snapshots")} WHERE stream_id = 'p1'`).length === 1)

        // --- the migration ---
        const applied = yield* OrderMigrations.run
        assert.deepStrictEqual(
          applied.map(([, name]) => name),
          ["stream_categories"]
        )
        const streams = yield* sql<{ stream_id: string; stream_type: string; version: number }>`
          SELECT stream_id, stream_type, version FROM ${sql("eventline.streams")} ORDER BY stream_id`
        assert.deepStrictEqual(
          streams.map((row) => [row.stream_id, row.stream_type, row.version]),
          [
            ["Fulfilment-o1", "Fulfilment", 1],
            ["Inventory-Order-o1", "Inventory", 1],
            ["Inventory-p1", "Inventory", 3],
            ["Order-Fulfilment-victim", "Order", 1],
            ["Order-o1", "Order", 1],
            ["Order-o2", "Order", 1]
          ]
        )
        const after = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql("eventline.events")}`
        assert.strictEqual(after[0]?.n, before[0]?.n, "no event lost or added")
        const unrenamed = yield* sql`SELECT stream_id FROM ${sql("eventline.events")} e
          WHERE NOT EXISTS (SELECT 1 FROM ${sql("eventline.streams")} s WHERE s.stream_id = e.stream_id)`
        assert.deepStrictEqual(unrenamed, [], "every event follows its stream")
        assert.deepStrictEqual(
          (yield* sql<{ stream_id: string }>`SELECT stream_id FROM ${sql("eventline.snapshots")}`).map(
            (r) => r.stream_id
          ),
          ["Inventory-p1"]
        )
        assert.deepStrictEqual(
          (yield* deadLetters.list("order-read-model")).map((letter) => letter.streamId),
          ["Order-o2"]
        )
        assert.deepStrictEqual(
          (yield* sql<{
            order_id: string
          }>`SELECT order_id FROM ${sql("eventline.customer_order_owners")} ORDER BY order_id`).map((r) => r.order_id),
          ["Order-o1", "Order-o2"]
        )

        // --- the service's paths over the migrated store ---
        const bus = yield* CommandBus.CommandBus.pipe(Effect.provide(Bus))
        const stock = yield* CommandHandler.load(
          InventoryAggregate.InventoryAggregate,
          InventoryAggregate.streamIdOf("p1")
        )
        assert.deepStrictEqual([stock.version, stock.snapshotVersion > 0, stock.state.available], [3, true, 7])
        const scope = yield* Scope.make()
        const saga = yield* ProcessManagerRunner.start(FulfilmentSaga.make(), { leaseTtl: "1 hour" }).pipe(
          Scope.provide(scope),
          Effect.provide(Bus)
        )
        const confirmed = yield* bus.dispatch(OrderCommand.ConfirmOrder.make({ orderId: "o1" }))
        assert.strictEqual(confirmed.streamId, "Order-o1")
        assert.strictEqual(confirmed.version, 2)
        const settle = Effect.andThen(saga.subscription.caughtUp, saga.subscription.lag).pipe(
          Effect.repeat({ until: (lag) => lag.events === 0 })
        )
        yield* settle
        const inputs = (yield* Stream.runCollect(store.readStream("Fulfilment-o1"))).map(
          (event) => (event.data as { input: { _tag: string } }).input._tag
        )
        assert.deepStrictEqual(inputs, ["OrderPlaced", "OrderConfirmed", "StockReserved"], "no input handled twice")
        const reserved = yield* CommandHandler.load(
          InventoryAggregate.InventoryAggregate,
          InventoryAggregate.streamIdOf("p1")
        )
        // reserved, then committed by the saga: sold, and out of the product's state
        assert.deepStrictEqual(reserved.state, { available: 5, reservations: {} })

        // the squatter's order and the victim live side by side
        yield* bus.dispatch(create("victim", "p1", 1))
        yield* bus.dispatch(OrderCommand.ConfirmOrder.make({ orderId: "victim" }))
        yield* settle
        const victim = yield* CommandHandler.load(
          InventoryAggregate.InventoryAggregate,
          InventoryAggregate.streamIdOf("p1")
        )
        assert.deepStrictEqual(victim.state, { available: 4, reservations: {} })
        const squatter = yield* CommandHandler.load(
          OrderAggregate.OrderAggregate,
          OrderAggregate.streamIdOf("Fulfilment-victim")
        )
        assert.strictEqual(squatter.version, 1)
        yield* Scope.close(scope, Exit.void)

        // the read model's rows, keyed by order id as before, take the new events
        const log = yield* Stream.runCollect(store.readStream("Order-o1"))
        for (const event of log) yield* OrderReadModel.apply(event)
        const row = yield* sql<{
          status: string
          version: number
        }>`SELECT status, version FROM ${orders} WHERE id = 'o1'`
        assert.deepStrictEqual(
          row.map((r) => [r.status, r.version]),
          [["confirmed", 2]]
        )
        // the stored stream ids are those the aggregate names
        assert.strictEqual(Aggregate.streamIdOf(OrderAggregate.OrderAggregate, create("o9", "p", 1)), "Order-o9")
      })
    )
  }
)
