/**
 * The Order read model: one row per order in `order_read_models`, kept by a transactional
 * subscription (the row change and the checkpoint commit together, so it is exactly once), and
 * the queries over it: by id, and lists by status or by customer with keyset pagination.
 *
 * Every event is applied only if it is newer than the row (`version`), so a replay or a duplicate
 * delivery is a no-op even outside the checkpoint's transaction.
 *
 * @since 0.1.0
 */
import { Aggregate, Errors, type EventEnvelope } from "@eventline/core"
import { PgStoreConfig, type Subscription } from "@eventline/postgres"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { OrderAggregate } from "./OrderAggregate.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderStatus = Schema.Literals(["pending", "confirmed", "cancelled"])

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderView = Schema.Struct({
  orderId: Schema.String,
  customerId: Schema.String,
  status: OrderStatus,
  /** Minor units (cents). */
  totalAmount: Schema.Int,
  itemCount: Schema.Int,
  version: Schema.Int,
  createdAt: Schema.String,
  updatedAt: Schema.String
})

/**
 * @category models
 * @since 0.1.0
 */
export type OrderView = typeof OrderView.Type

const Row = Schema.Struct({
  id: Schema.String,
  customer_id: Schema.String,
  status: OrderStatus,
  total_amount: Schema.BigInt,
  item_count: Schema.Int,
  version: Schema.Int,
  created_at: Schema.Date,
  updated_at: Schema.Date
})
const Rows = Schema.Array(Row)

const toView = (row: typeof Row.Type): OrderView => ({
  orderId: row.id,
  customerId: row.customer_id,
  status: row.status,
  totalAmount: Number(row.total_amount),
  itemCount: row.item_count,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

const infrastructure = (operation: string) => (cause: SqlError.SqlError | Schema.SchemaError) =>
  new Errors.InfrastructureError({ operation, cause })

const table = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig.PgStoreConfig
  return { sql, table: sql(`${config.schema}.order_read_models`) }
})

/**
 * Create the table (idempotent).
 *
 * @category migrations
 * @since 0.1.0
 */
export const migrate = Effect.gen(function* () {
  const { sql, table: orders } = yield* table
  yield* sql`CREATE TABLE IF NOT EXISTS ${orders} (
    id text PRIMARY KEY,
    customer_id text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    total_amount bigint NOT NULL,
    item_count integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS order_read_models_status ON ${orders} (status, created_at DESC, id DESC)`
  yield* sql`CREATE INDEX IF NOT EXISTS order_read_models_customer ON ${orders} (customer_id, created_at DESC, id DESC)`
}).pipe(Effect.mapError(infrastructure("orderReadModel.migrate")))

/**
 * Apply one Order event to the read model.
 *
 * @category projection
 * @since 0.1.0
 */
export const apply = (recorded: EventEnvelope.RecordedEvent) =>
  Effect.gen(function* () {
    const { sql, table: orders } = yield* table
    const event = yield* Aggregate.decodeEvent(OrderAggregate, recorded)
    const at = recorded.metadata.occurredAt
    switch (event._tag) {
      case "OrderCreated":
        yield* sql`INSERT INTO ${orders} (id, customer_id, status, total_amount, item_count, created_at, updated_at, version)
          VALUES (${recorded.streamId}, ${event.customerId}, 'pending', ${event.totalAmount}, ${event.items.length},
            ${at}::timestamptz, ${at}::timestamptz, ${recorded.version})
          ON CONFLICT (id) DO NOTHING`
        return
      case "OrderConfirmed":
        yield* sql`UPDATE ${orders} SET status = 'confirmed', updated_at = ${event.confirmedAt}::timestamptz,
            version = ${recorded.version}
          WHERE id = ${recorded.streamId} AND version < ${recorded.version}`
        return
      case "OrderCancelled":
        yield* sql`UPDATE ${orders} SET status = 'cancelled', updated_at = ${event.cancelledAt}::timestamptz,
            version = ${recorded.version}
          WHERE id = ${recorded.streamId} AND version < ${recorded.version}`
        return
    }
  }).pipe(
    Effect.mapError((error) => (error._tag === "InvalidEvent" ? error : infrastructure("orderReadModel.apply")(error)))
  )

/**
 * The projection's subscription options: all Order events, transactional.
 *
 * @category projection
 * @since 0.1.0
 */
export const subscription = (
  name = "order-read-model"
): Subscription.Options<Errors.InvalidEvent | Errors.InfrastructureError, SqlClient.SqlClient> => ({
  name,
  streamTypes: [OrderAggregate.streamType],
  handle: apply,
  onReset: Effect.flatMap(table, ({ sql, table: orders }) => sql`TRUNCATE ${orders}`)
})

/**
 * A page of a list: the items and the cursor for the next page (none at the end).
 *
 * @category models
 * @since 0.1.0
 */
export interface Page {
  readonly items: ReadonlyArray<OrderView>
  readonly nextCursor: string | undefined
}

const Cursor = Schema.Struct({ createdAt: Schema.String, id: Schema.String })
const CursorJson = Schema.fromJsonString(Cursor)

/**
 * A cursor that is not one of ours.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", { cursor: Schema.String }) {
  override get message(): string {
    return "the cursor is not valid: pass the nextCursor of a previous page"
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ListOptions {
  readonly status?: OrderView["status"] | undefined
  readonly customerId?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/**
 * @category services
 * @since 0.1.0
 */
export class OrderQueries extends Context.Service<
  OrderQueries,
  {
    readonly byId: (orderId: string) => Effect.Effect<Option.Option<OrderView>, Errors.InfrastructureError>
    /** Newest first; `limit` 1..100. */
    readonly list: (options: ListOptions) => Effect.Effect<Page, Errors.InfrastructureError | InvalidCursor>
  }
>()("@eventline/orders/OrderQueries") {}

/**
 * @category constructors
 * @since 0.1.0
 */
export const makeQueries = Effect.gen(function* () {
  const { sql, table: orders } = yield* table
  const columns = sql.literal("id, customer_id, status, total_amount, item_count, version, created_at, updated_at")

  const byId = (orderId: string) =>
    sql`SELECT ${columns} FROM ${orders} WHERE id = ${orderId}`.pipe(
      Effect.flatMap(Schema.decodeUnknownEffect(Rows)),
      Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), toView)),
      Effect.mapError(infrastructure("orders.byId"))
    )

  const list = (options: ListOptions) =>
    Effect.gen(function* () {
      const limit = Math.min(Math.max(options.limit ?? 20, 1), 100)
      const after =
        options.cursor === undefined
          ? undefined
          : yield* Schema.decodeUnknownEffect(CursorJson)(
              Buffer.from(options.cursor, "base64url").toString("utf8")
            ).pipe(Effect.mapError(() => new InvalidCursor({ cursor: options.cursor ?? "" })))
      const clauses = [
        options.status === undefined ? sql`true` : sql`status = ${options.status}`,
        options.customerId === undefined ? sql`true` : sql`customer_id = ${options.customerId}`,
        after === undefined ? sql`true` : sql`(created_at, id) < (${after.createdAt}::timestamptz, ${after.id})`
      ]
      const rows = yield* sql`SELECT ${columns} FROM ${orders} WHERE ${sql.and(clauses)}
          ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(Rows)),
        Effect.mapError(infrastructure("orders.list"))
      )
      const items = rows.slice(0, limit).map(toView)
      const last = items[items.length - 1]
      const nextCursor =
        rows.length > limit && last !== undefined
          ? Buffer.from(Schema.encodeSync(CursorJson)({ createdAt: last.createdAt, id: last.orderId })).toString(
              "base64url"
            )
          : undefined
      return { items, nextCursor }
    })

  return OrderQueries.of({ byId, list })
})

/**
 * The queries, with the table created at start-up.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<OrderQueries, Errors.InfrastructureError, SqlClient.SqlClient> = Layer.effect(
  OrderQueries,
  Effect.andThen(migrate, makeQueries)
)
