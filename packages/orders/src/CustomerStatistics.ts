/**
 * An example consumer of the `order-events` topic: order statistics per customer, in a table of
 * its own. It is fed by the relay through the event bus (Kafka, or the in-process bus of the
 * embedded default), so it sees every event at least once; `ProcessedEvents.once` writes each
 * event's effect and its "processed" mark in one transaction, so the counts are exact.
 *
 * @since 0.1.0
 */
import { Aggregate, Errors, type EventEnvelope } from "@eventline/core"
import { EventBus, ProcessedEvents, Relay } from "@eventline/kafka"
import { PgStoreConfig } from "@eventline/postgres"
import { Context, Effect, Layer, Option, Schema, type Scope } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
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

/** The topic the relay writes Order events to. */
export const topic = Relay.defaultTopicOf(OrderAggregate.streamType)

const Rows = Schema.Array(
  Schema.Struct({
    customer_id: Schema.String,
    orders_created: Schema.Int,
    orders_confirmed: Schema.Int,
    orders_cancelled: Schema.Int,
    total_amount: Schema.BigInt
  })
)

const tables = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { schema } = yield* PgStoreConfig.PgStoreConfig
  return { sql, schema, stats: sql(`${schema}.customer_order_stats`), owners: sql(`${schema}.customer_order_owners`) }
})

/**
 * Create the tables (idempotent).
 *
 * @category migrations
 * @since 0.1.0
 */
export const migrate: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function* () {
  const { sql, schema, stats, owners } = yield* tables
  yield* ProcessedEvents.migrate({ schema })
  yield* sql`CREATE TABLE IF NOT EXISTS ${stats} (
    customer_id text PRIMARY KEY,
    orders_created integer NOT NULL DEFAULT 0,
    orders_confirmed integer NOT NULL DEFAULT 0,
    orders_cancelled integer NOT NULL DEFAULT 0,
    total_amount bigint NOT NULL DEFAULT 0
  )`
  // confirmations and cancellations carry no customer: remember whose each order is
  yield* sql`CREATE TABLE IF NOT EXISTS ${owners} (order_id text PRIMARY KEY, customer_id text NOT NULL)`
})

const apply = (recorded: EventEnvelope.RecordedEvent) =>
  Effect.gen(function* () {
    const { sql, schema, stats, owners } = yield* tables
    const event = yield* Aggregate.decodeEvent(OrderAggregate, recorded)
    yield* ProcessedEvents.once(
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
      }),
      { schema }
    )
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
  EventBus.EventBus | SqlClient.SqlClient | Scope.Scope
> =>
  Effect.gen(function* () {
    const bus = yield* EventBus.EventBus
    yield* migrate.pipe(
      Effect.mapError((cause) => new Errors.InfrastructureError({ operation: "customerStats.migrate", cause }))
    )
    return yield* bus.run([topic], consumerName, (event) => apply(event), options)
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
 * The query side (the table is created by `run` or `migrate`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<CustomerStatistics, never, SqlClient.SqlClient> = Layer.effect(
  CustomerStatistics,
  Effect.gen(function* () {
    const { sql, stats } = yield* tables
    return CustomerStatistics.of({
      byCustomer: (customerId) =>
        sql`SELECT * FROM ${stats} WHERE customer_id = ${customerId}`.pipe(
          Effect.flatMap(Schema.decodeUnknownEffect(Rows)),
          Effect.map((rows) =>
            Option.map(Option.fromNullishOr(rows[0]), (row) => ({
              customerId: row.customer_id,
              ordersCreated: row.orders_created,
              ordersConfirmed: row.orders_confirmed,
              ordersCancelled: row.orders_cancelled,
              totalAmount: Number(row.total_amount)
            }))
          ),
          Effect.mapError((cause) => new Errors.InfrastructureError({ operation: "customerStats.byCustomer", cause }))
        )
    })
  })
)
