/**
 * The Order read model: one row per order in `order_read_models` (keyed by the order id, the
 * stream id `Order-<orderId>` without its category), kept by a transactional
 * subscription (the row change and the checkpoint commit together, so it is exactly once), and
 * the queries over it: by id, and lists by status or by customer with keyset pagination.
 *
 * Every event is applied only if it is newer than the row (`version`), so a replay or a duplicate
 * delivery is a no-op even outside the checkpoint's transaction.
 *
 * The subscription writes a whole batch in one statement (`applyBatch`: the batch folded per
 * order in memory, then one multi-row update and insert), in the checkpoint's transaction; a
 * batch that fails goes event by event (`apply`), so a bad event is dead-lettered alone.
 *
 * The table is created by `OrderMigrations` (migration `0001_order_read_models`).
 *
 * @since 0.1.0
 */
import { Aggregate, Errors, EventEnvelope, type Subscription } from "@eventline/core"
import { PgStore, PgStoreConfig } from "@eventline/postgres"
import { Context, Effect, Layer, Option, Schema, SchemaTransformation } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { RecordedId } from "./Ids.ts"
import { OrderAggregate, orderIdOf } from "./OrderAggregate.ts"

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
  // the read model holds orders placed under the older id rule too
  orderId: RecordedId,
  customerId: RecordedId,
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

/** A row of `order_read_models` as the driver returns it, decoded into the view. */
const OrderViewFromRow = Schema.Struct({
  id: Schema.String,
  customer_id: Schema.String,
  status: OrderStatus,
  total_amount: Schema.BigInt,
  item_count: Schema.Int,
  version: Schema.Int,
  created_at: Schema.Date,
  updated_at: Schema.Date
}).pipe(
  Schema.decodeTo(
    OrderView,
    SchemaTransformation.transform({
      decode: (row) => ({
        orderId: row.id,
        customerId: row.customer_id,
        status: row.status,
        // an order totals at most 10^14 minor units (OrderCommand.maxPrice): exact as a number
        totalAmount: Number(row.total_amount),
        itemCount: row.item_count,
        version: row.version,
        createdAt: row.created_at.toISOString(),
        updatedAt: row.updated_at.toISOString()
      }),
      encode: (view) => ({
        id: view.orderId,
        customer_id: view.customerId,
        status: view.status,
        total_amount: BigInt(view.totalAmount),
        item_count: view.itemCount,
        version: view.version,
        created_at: new Date(view.createdAt),
        updated_at: new Date(view.updatedAt)
      })
    })
  )
)

const table = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig.PgStoreConfig
  return { sql, table: sql(`${config.schema}.order_read_models`) }
})

/** The order id of an Order stream (`Order-<orderId>`); a stream outside the category is refused. */
const orderIdOfStream = (recorded: EventEnvelope.RecordedEvent) =>
  Option.match(orderIdOf(recorded.streamId), {
    onNone: () =>
      Effect.fail(
        new Errors.InvalidEvent({
          streamId: recorded.streamId,
          reason: `stream '${recorded.streamId}' is not an Order stream ('Order-<orderId>'): run the migrations (OrderMigrations 0003)`
        })
      ),
    onSome: Effect.succeed
  })

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
    const orderId = yield* orderIdOfStream(recorded)
    const at = recorded.metadata.occurredAt
    switch (event._tag) {
      case "OrderCreated":
        yield* sql`INSERT INTO ${orders} (id, customer_id, status, total_amount, item_count, created_at, updated_at, version)
          VALUES (${orderId}, ${event.customerId}, 'pending', ${event.totalAmount}, ${event.items.length},
            ${at}::timestamptz, ${at}::timestamptz, ${recorded.version})
          ON CONFLICT (id) DO NOTHING`
        return
      case "OrderConfirmed":
        yield* sql`UPDATE ${orders} SET status = 'confirmed', updated_at = ${event.confirmedAt}::timestamptz,
            version = ${recorded.version}
          WHERE id = ${orderId} AND version < ${recorded.version}`
        return
      case "OrderCancelled":
        yield* sql`UPDATE ${orders} SET status = 'cancelled', updated_at = ${event.cancelledAt}::timestamptz,
            version = ${recorded.version}
          WHERE id = ${orderId} AND version < ${recorded.version}`
        return
    }
  }).pipe(
    Effect.mapError((error) =>
      error._tag === "InvalidEvent" ? error : Errors.infrastructure("orderReadModel.apply")(error)
    )
  )

/** The newest status change of an order in a batch. */
interface StatusChange {
  readonly status: "confirmed" | "cancelled"
  readonly at: string
  readonly version: number
}

/** A row of `order_read_models`, as the batch statement takes it (JSON). */
interface Row {
  readonly id: string
  readonly customer_id: string
  status: OrderView["status"]
  readonly total_amount: number
  readonly item_count: number
  readonly created_at: string
  updated_at: string
  version: number
}

/**
 * What a batch does to one order, folded in memory with the rules of `apply` (first creation
 * wins; a status change applies when newer than the row), for both cases the database decides:
 * the order had no row before the batch (`created`: the row as the batch leaves it), or it had
 * one (`change`: the newest status change, applied when newer than that row).
 */
interface OrderDelta {
  created: Row | undefined
  change: StatusChange | undefined
}

const foldBatch = (batch: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
  Effect.gen(function* () {
    const deltas = new Map<string, OrderDelta>()
    for (const recorded of batch) {
      const event = yield* Aggregate.decodeEvent(OrderAggregate, recorded)
      const orderId = yield* orderIdOfStream(recorded)
      let delta = deltas.get(orderId)
      if (delta === undefined) {
        delta = { created: undefined, change: undefined }
        deltas.set(orderId, delta)
      }
      if (event._tag === "OrderCreated") {
        const at = recorded.metadata.occurredAt
        delta.created ??= {
          id: orderId,
          customer_id: event.customerId,
          status: "pending",
          total_amount: event.totalAmount,
          item_count: event.items.length,
          created_at: at,
          updated_at: at,
          version: recorded.version
        }
        continue
      }
      const change: StatusChange =
        event._tag === "OrderConfirmed"
          ? { status: "confirmed", at: event.confirmedAt, version: recorded.version }
          : { status: "cancelled", at: event.cancelledAt, version: recorded.version }
      if (delta.change === undefined || delta.change.version < change.version) delta.change = change
      const created = delta.created
      if (created !== undefined && created.version < change.version) {
        created.status = change.status
        created.updated_at = change.at
        created.version = change.version
      }
    }
    return deltas
  })

/**
 * Apply a batch of Order events in one statement: the same rows as `apply` over each event in
 * order. Orders that had a row get their newest status change (when newer); the others are
 * inserted as the batch leaves them. Both parts see the table as it was before the statement,
 * so each order takes exactly one of the two.
 *
 * @category projection
 * @since 0.3.0
 */
export const applyBatch = (batch: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
  Effect.gen(function* () {
    const { sql, table: orders } = yield* table
    const deltas = yield* foldBatch(batch)
    const rows = Array.from(deltas, ([id, { created, change }]) => ({
      ...created,
      id,
      change_status: change?.status,
      change_at: change?.at,
      change_version: change?.version
    }))
    // the transaction commits without waiting for its WAL flush (see `subscription`)
    yield* sql`WITH settings AS MATERIALIZED (
        SELECT set_config('synchronous_commit', 'off', true)
      ), batch AS (
        SELECT b.* FROM settings, jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS b(id text, customer_id text,
          status text, total_amount bigint, item_count integer, created_at timestamptz, updated_at timestamptz,
          version integer, change_status text, change_at timestamptz, change_version integer)
      ), changed AS (
        UPDATE ${orders} AS o SET status = b.change_status, updated_at = b.change_at, version = b.change_version
        FROM batch b WHERE o.id = b.id AND b.change_status IS NOT NULL AND o.version < b.change_version
      )
      INSERT INTO ${orders} (id, customer_id, status, total_amount, item_count, created_at, updated_at, version)
      SELECT id, customer_id, status, total_amount, item_count, created_at, updated_at, version
        FROM batch WHERE customer_id IS NOT NULL
      ON CONFLICT (id) DO NOTHING`
  }).pipe(
    Effect.mapError((error) =>
      error._tag === "InvalidEvent" ? error : Errors.infrastructure("orderReadModel.applyBatch")(error)
    )
  )

/**
 * The projection's subscription options: all Order events, transactional, a statement per batch
 * (`applyBatch`).
 *
 * A batch's transaction commits asynchronously (`synchronous_commit = off`, for that transaction
 * only): the row is visible without waiting for a disk flush. A crash of the database server may
 * lose the last batches (well under a second), always whole, with their checkpoint: they are
 * projected again from the log, which is written durably. Never a partial batch, never twice.
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
  handleBatchAtomically: applyBatch,
  // a statement per batch: catching up, bigger batches pay; following, batches are what has come
  batchSize: 500,
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

/**
 * Where a page ends: the last item's creation time and id. Both fields are checked here, so that a
 * cursor that decodes but does not name a position (`{"createdAt":"x"}`, an id with a NUL) is an
 * `InvalidCursor` (400), not a query the database refuses (500). The id is any id the read model
 * may hold (up to 200 characters: orders placed before ids were limited to 100).
 */
const Position = Schema.Struct({ createdAt: EventEnvelope.Timestamp, id: EventEnvelope.StreamId })

/** An opaque cursor: the position of the last item of a page, as base64url-encoded JSON. */
const Cursor = Schema.StringFromBase64Url.pipe(Schema.decodeTo(Schema.fromJsonString(Position)))

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
  // plain reads: safe to run again on a fresh connection after a terminated backend
  const retry = PgStore.retryOnConnectionLoss(sql)
  const columns = sql.literal("id, customer_id, status, total_amount, item_count, version, created_at, updated_at")

  const findById = SqlSchema.findOneOption({
    Request: Schema.String,
    Result: OrderViewFromRow,
    execute: (orderId) => sql`SELECT ${columns} FROM ${orders} WHERE id = ${orderId}`
  })

  const findPage = SqlSchema.findAll({
    Request: Schema.Struct({
      status: Schema.UndefinedOr(OrderStatus),
      customerId: Schema.UndefinedOr(Schema.String),
      after: Schema.UndefinedOr(Position),
      limit: Schema.Int
    }),
    Result: OrderViewFromRow,
    execute: ({ status, customerId, after, limit }) =>
      sql`SELECT ${columns} FROM ${orders} WHERE ${sql.and([
        status === undefined ? sql`true` : sql`status = ${status}`,
        customerId === undefined ? sql`true` : sql`customer_id = ${customerId}`,
        after === undefined ? sql`true` : sql`(created_at, id) < (${after.createdAt}::timestamptz, ${after.id})`
      ])}
        ORDER BY created_at DESC, id DESC LIMIT ${limit}`
  })

  const byId = (orderId: string) => findById(orderId).pipe(retry, Effect.mapError(Errors.infrastructure("orders.byId")))

  const list = (options: ListOptions) =>
    Effect.gen(function* () {
      const limit = Math.min(Math.max(options.limit ?? 20, 1), 100)
      const after =
        options.cursor === undefined
          ? undefined
          : yield* Schema.decodeUnknownEffect(Cursor)(options.cursor).pipe(
              Effect.mapError(() => new InvalidCursor({ cursor: options.cursor ?? "" }))
            )
      // one more than asked for: whether it exists says whether there is a next page
      const views = yield* findPage({
        status: options.status,
        customerId: options.customerId,
        after,
        limit: limit + 1
      }).pipe(retry, Effect.mapError(Errors.infrastructure("orders.list")))
      const items = views.slice(0, limit)
      const last = items[items.length - 1]
      const nextCursor =
        views.length > limit && last !== undefined
          ? Schema.encodeSync(Cursor)({ createdAt: last.createdAt, id: last.orderId })
          : undefined
      return { items, nextCursor }
    })

  return OrderQueries.of({ byId, list })
})

/**
 * The queries. The table is created by `OrderMigrations`: provide its layer first.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<OrderQueries, never, SqlClient.SqlClient> = Layer.effect(OrderQueries, makeQueries)
