/**
 * An example consumer of the `order-events` topic: order statistics per customer, in a table of
 * its own. It is fed by the relay through the event bus (Kafka, or the store-backed bus of the
 * embedded default: one handler, whichever transport runs), so it sees every event at least
 * once, after any restart; `ProcessedEvents.once` writes each event's effect and its "processed"
 * mark in one transaction, so the counts are exact.
 *
 * @since 0.1.0
 */
import { Aggregate, Errors, EventBus, type EventEnvelope, ProcessedEvents, Relay } from "@eventline/core"
import { PgStoreConfig } from "@eventline/postgres"
import { Context, Effect, Layer, type Option, Schema, SchemaTransformation, type Scope } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { OrderAggregate } from "./OrderAggregate.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const CustomerStats = Schema.Struct({
  customerId: Schema.String,
  ordersCreated: Schema.Int,
  ordersConfirmed: Schema.Int,
  ordersCancelled: Schema.Int,
  /** Minor units (cents) over all orders created. */
  totalAmount: Schema.Int
})

/**
 * @category models
 * @since 0.1.0
 */
export type CustomerStats = typeof CustomerStats.Type

const consumerName = "customer-statistics"

/**
 * The topic the relay writes Order events to.
 *
 * @category constants
 * @since 0.1.0
 */
export const topic = Relay.defaultTopicOf(OrderAggregate.streamType)

/** A row of `customer_order_stats` as the driver returns it, decoded into the statistics. */
const CustomerStatsFromRow = Schema.Struct({
  customer_id: Schema.String,
  orders_created: Schema.Int,
  orders_confirmed: Schema.Int,
  orders_cancelled: Schema.Int,
  total_amount: Schema.BigInt
}).pipe(
  Schema.decodeTo(
    CustomerStats,
    SchemaTransformation.transform({
      decode: (row) => ({
        customerId: row.customer_id,
        ordersCreated: row.orders_created,
        ordersConfirmed: row.orders_confirmed,
        ordersCancelled: row.orders_cancelled,
        // sums of order totals (each at most 10^14 minor units): exact as a number for a long while
        totalAmount: Number(row.total_amount)
      }),
      encode: (stats) => ({
        customer_id: stats.customerId,
        orders_created: stats.ordersCreated,
        orders_confirmed: stats.ordersConfirmed,
        orders_cancelled: stats.ordersCancelled,
        total_amount: BigInt(stats.totalAmount)
      })
    })
  )
)

const tables = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { schema } = yield* PgStoreConfig.PgStoreConfig
  return { sql, schema, stats: sql(`${schema}.customer_order_stats`), owners: sql(`${schema}.customer_order_owners`) }
})

/** The consumer's handler: each event's counts and its "processed" mark in one transaction. */
const handler = Effect.gen(function* () {
  const { sql, stats, owners } = yield* tables
  const inbox = yield* ProcessedEvents.ProcessedEvents
  return (recorded: EventEnvelope.RecordedEvent) =>
    Effect.gen(function* () {
      const event = yield* Aggregate.decodeEvent(OrderAggregate, recorded)
      yield* inbox.once(
        consumerName,
        recorded.eventId,
        Effect.gen(function* () {
          switch (event._tag) {
            case "OrderCreated":
              yield* sql`INSERT INTO ${owners} (order_id, customer_id) VALUES (${recorded.streamId}, ${event.customerId})
                ON CONFLICT (order_id) DO NOTHING`
              yield* sql`INSERT INTO ${stats} (customer_id, orders_created, total_amount)
                VALUES (${event.customerId}, 1, ${event.totalAmount})
                ON CONFLICT (customer_id) DO UPDATE SET orders_created = ${stats}.orders_created + 1,
                  total_amount = ${stats}.total_amount + EXCLUDED.total_amount`
              return
            case "OrderConfirmed":
              yield* sql`UPDATE ${stats} s SET orders_confirmed = s.orders_confirmed + 1
                FROM ${owners} o WHERE o.order_id = ${recorded.streamId} AND s.customer_id = o.customer_id`
              return
            case "OrderCancelled":
              yield* sql`UPDATE ${stats} s SET orders_cancelled = s.orders_cancelled + 1
                FROM ${owners} o WHERE o.order_id = ${recorded.streamId} AND s.customer_id = o.customer_id`
              return
          }
        })
      )
    })
})

/**
 * Run the consumer (group `customer-statistics`) for the lifetime of the scope.
 *
 * @category consumers
 * @since 0.1.0
 */
export const run = (
  options?: EventBus.RunOptions
): Effect.Effect<
  EventBus.Runner<Errors.InfrastructureError>,
  Errors.InfrastructureError,
  EventBus.EventBus | ProcessedEvents.ProcessedEvents | SqlClient.SqlClient | Scope.Scope
> =>
  Effect.gen(function* () {
    const bus = yield* EventBus.EventBus
    // the inbox must be in the statistics' database (PgStore provides it), so mark and counts commit together
    return yield* bus.run([topic], consumerName, yield* handler, options)
  })

/**
 * @category services
 * @since 0.1.0
 */
export class CustomerStatistics extends Context.Service<
  CustomerStatistics,
  {
    readonly byCustomer: (customerId: string) => Effect.Effect<Option.Option<CustomerStats>, Errors.InfrastructureError>
  }
>()("@eventline/orders/CustomerStatistics") {}

/**
 * The query side. The tables are created by `OrderMigrations` (migration
 * `0002_customer_statistics`): provide its layer before this one and before `run`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<CustomerStatistics, never, SqlClient.SqlClient> = Layer.effect(
  CustomerStatistics,
  Effect.gen(function* () {
    const { sql, stats } = yield* tables
    const find = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: CustomerStatsFromRow,
      execute: (customerId) => sql`SELECT * FROM ${stats} WHERE customer_id = ${customerId}`
    })
    return CustomerStatistics.of({
      byCustomer: (customerId) =>
        find(customerId).pipe(Effect.mapError(Errors.infrastructure("customerStats.byCustomer")))
    })
  })
)
