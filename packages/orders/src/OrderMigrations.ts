/**
 * The Order service's own tables (the read model and the customer statistics), as versioned
 * migrations run by the same Migrator as Eventline's tables, in the store's schema
 * (`PgStoreConfig.schema`), tracked in `<schema>.orders_migrations`; and the one-off rename of
 * the service's streams into their categories (`0003_stream_categories`, 0.3.0).
 *
 * Each table is created with IF NOT EXISTS: releases before 0.2.0 created them when the layers
 * were built, and their databases must migrate cleanly.
 *
 * ```ts
 * const ReadSide = OrderReadModel.layer.pipe(
 *   Layer.provide(OrderMigrations.layer),
 *   Layer.provideMerge(PgStore.layerEmbedded())
 * )
 * ```
 *
 * @since 0.2.0
 */
import { Migrations } from "@eventline/postgres"
import { Effect, type Layer } from "effect"
import { type Migrator, SqlClient, type SqlError } from "effect/sql"
import * as InventoryAggregate from "./InventoryAggregate.ts"
import * as OrderAggregate from "./OrderAggregate.ts"

/**
 * The migrations over the tables of `schema`, by name. Append new ones; never change one that has
 * been released.
 *
 * @category migrations
 * @since 0.2.0
 */
export const migrations = (
  schema: string
): Record<string, Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>> => ({
  "0001_order_read_models": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const orders = sql(`${schema}.order_read_models`)
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
    // the two list queries: by status and by customer, newest first, keyset on (created_at, id)
    yield* sql`CREATE INDEX IF NOT EXISTS order_read_models_status ON ${orders} (status, created_at DESC, id DESC)`
    yield* sql`CREATE INDEX IF NOT EXISTS order_read_models_customer ON ${orders} (customer_id, created_at DESC, id DESC)`
  }),
  "0002_customer_statistics": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.customer_order_stats`)} (
      customer_id text PRIMARY KEY,
      orders_created integer NOT NULL DEFAULT 0,
      orders_confirmed integer NOT NULL DEFAULT 0,
      orders_cancelled integer NOT NULL DEFAULT 0,
      total_amount bigint NOT NULL DEFAULT 0
    )`
    // confirmations and cancellations carry no customer: remember whose each order is
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.customer_order_owners`)} (
      order_id text PRIMARY KEY,
      customer_id text NOT NULL
    )`
  }),
  // 0.3.0: the aggregates' streams got categories (`Order-<orderId>`, `Inventory-<productId>`), so
  // that no id a client picks names another aggregate's or the saga's stream (`Fulfilment-<orderId>`,
  // unchanged). The read model keeps order ids; the statistics' owners are keyed by stream id.
  // Upgrade with the old service stopped and the bus drained: messages published before carry the
  // old stream ids (Kafka keys, envelopes), which the new consumers do not know.
  "0003_stream_categories": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* Migrations.addCategories(schema, {
      [OrderAggregate.streamType]: OrderAggregate.category,
      [InventoryAggregate.streamType]: InventoryAggregate.category
    })
    const [owners] = yield* sql<{
      found: boolean
    }>`SELECT to_regclass(${`${schema}.customer_order_owners`}) IS NOT NULL AS found`
    if (owners?.found === true) {
      yield* sql`UPDATE ${sql(`${schema}.customer_order_owners`)}
        SET order_id = ${`${OrderAggregate.category}-`} || order_id`
    }
  })
})

/**
 * Bring the Order service's tables up to date in the store's schema. Safe to run from several
 * processes at once (the Migrator locks its table).
 *
 * @category running
 * @since 0.2.0
 */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient
> = Migrations.runFor("orders", migrations)

/**
 * Runs the migrations when the layer is built (at start-up), before the layers that need the
 * tables: provide it to them.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<never, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> =
  Migrations.layerFor("orders", migrations)
