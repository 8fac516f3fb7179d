/**
 * The store's tables, as versioned, idempotent migrations run by effect/sql's Migrator. They live
 * in one schema (`PgStoreConfig.schema`) together with their own bookkeeping table, so several
 * Eventline stores can share a database.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { Migrator, SqlClient, type SqlError } from "effect/sql"
import { PgStoreConfig } from "./PgStoreConfig.ts"

const migrations = (schema: string) => ({
  "0001_event_store": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const s = (table: string) => sql(`${schema}.${table}`)
    // stream version and global position are kept apart: versions are 1..n per stream, positions
    // are global and ordered by (transaction_id, global_position) for gap-safe reading
    yield* sql`CREATE TABLE ${s("streams")} (
      stream_id text PRIMARY KEY,
      stream_type text NOT NULL,
      version integer NOT NULL CHECK (version >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
    yield* sql`CREATE TABLE ${s("events")} (
      global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
      stream_id text NOT NULL,
      stream_type text NOT NULL,
      version integer NOT NULL CHECK (version >= 1),
      event_id uuid NOT NULL UNIQUE,
      event_type text NOT NULL,
      schema_version integer NOT NULL CHECK (schema_version >= 1),
      data jsonb NOT NULL,
      metadata jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (stream_id, version)
    )`
    yield* sql`CREATE INDEX events_log_order ON ${s("events")} (transaction_id, global_position)`
    yield* sql`CREATE INDEX events_type_log_order ON ${s("events")} (stream_type, transaction_id, global_position)`
    yield* sql`CREATE TABLE ${s("snapshots")} (
      stream_id text PRIMARY KEY,
      stream_type text NOT NULL,
      version integer NOT NULL CHECK (version >= 1),
      schema_version integer NOT NULL,
      state jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
    yield* sql`CREATE TABLE ${s("checkpoints")} (
      subscription_id text PRIMARY KEY,
      transaction_id xid8 NOT NULL,
      global_position bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      owner text,
      lease_expires_at timestamptz
    )`
    yield* sql`CREATE TABLE ${s("dead_letters")} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      subscription_id text NOT NULL,
      transaction_id xid8 NOT NULL,
      global_position bigint NOT NULL,
      stream_id text NOT NULL,
      event_id uuid NOT NULL,
      error text NOT NULL,
      attempts integer NOT NULL,
      first_failed_at timestamptz NOT NULL,
      last_failed_at timestamptz NOT NULL,
      status text NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'redriven', 'skipped')),
      UNIQUE (subscription_id, event_id)
    )`
    yield* sql`CREATE INDEX dead_letters_parked ON ${s("dead_letters")} (subscription_id, stream_id) WHERE status = 'parked'`
  }),
  "0002_deadlines": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // durable deadlines of process managers: they fire after a restart too
    yield* sql`CREATE TABLE ${sql(`${schema}.deadlines`)} (
      process_manager text NOT NULL,
      deadline_id text NOT NULL,
      instance_key text NOT NULL,
      due_at timestamptz NOT NULL,
      input jsonb NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired')),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (process_manager, deadline_id)
    )`
    yield* sql`CREATE INDEX deadlines_due ON ${sql(`${schema}.deadlines`)} (process_manager, due_at) WHERE status = 'pending'`
  }),
  "0003_idempotency_keys": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // IF NOT EXISTS: databases where an earlier release created the table at start-up
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.idempotency_keys`)} (
      key text PRIMARY KEY,
      request_hash text NOT NULL,
      status text NOT NULL CHECK (status IN ('in_progress', 'completed')),
      response jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      locked_until timestamptz
    )`
  }),
  "0004_processed_events": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.processed_events`)} (
      consumer text NOT NULL,
      event_id uuid NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, event_id)
    )`
  }),
  "0005_stream_log_label": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const streams = sql(`${schema}.streams`)
    // the log-order label of each stream's latest append (internal/appendSql.ts); a stream written
    // before this migration starts from its events' largest, so its next append follows them all
    yield* sql`ALTER TABLE ${streams} ADD COLUMN last_transaction_id xid8 NOT NULL DEFAULT '0'`
    yield* sql`UPDATE ${streams} s SET last_transaction_id = e.label
      FROM (SELECT stream_id, max(transaction_id) AS label FROM ${sql(`${schema}.events`)} GROUP BY stream_id) e
      WHERE e.stream_id = s.stream_id`
  })
})

/**
 * A migration step for stores written before an aggregate had a category (`Aggregate.category`,
 * `StreamName`): every stream of the given stream types gets its category in front of its id,
 * `<id>` becoming `<category>-<id>`, in every table of the store that names streams (streams,
 * events, snapshots, dead letters). Checkpoints hold positions, not stream ids, and stay valid.
 *
 * Run it inside an application's migration (`layerFor`), which is one transaction: a store is
 * either wholly renamed or not at all. Stop the writers of these streams first (an old process
 * would go on writing the old ids). Tables that do not exist in `schema` are skipped. A new id
 * that is already taken fails the migration (a unique violation) and changes nothing.
 *
 * @example
 * ```ts
 * import { Migrations } from "@eventline/postgres"
 *
 * const ShopMigrations = Migrations.layerFor("shop", (schema) => ({
 *   "0002_stream_categories": Migrations.addCategories(schema, { Cart: "Cart" })
 * }))
 * ```
 *
 * @category migrations
 * @since 0.3.0
 */
export const addCategories = (
  schema: string,
  categories: Readonly<Record<string, string>>
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const types = Object.keys(categories)
    if (types.length === 0) return
    const mapping = JSON.stringify(categories)
    const exists = (table: string) =>
      Effect.map(
        sql<{ found: boolean }>`SELECT to_regclass(${`${schema}.${table}`}) IS NOT NULL AS found`,
        (rows) => rows[0]?.found === true
      )
    // two steps, so that no intermediate name collides: first a prefix no id can have (ids never
    // contain control characters), then the final name; unique checks run per row in PostgreSQL
    const rename = (table: string) =>
      Effect.gen(function* () {
        if (!(yield* exists(table))) return
        const t = sql(`${schema}.${table}`)
        yield* sql`UPDATE ${t} SET stream_id = chr(1) || (${mapping}::jsonb ->> stream_type) || '-' || stream_id
          WHERE stream_type IN ${sql.in(types)}`
        yield* sql`UPDATE ${t} SET stream_id = substr(stream_id, 2) WHERE stream_id LIKE chr(1) || '%'`
      })
    yield* rename("streams")
    yield* rename("events")
    yield* rename("snapshots")
    if ((yield* exists("dead_letters")) && (yield* exists("events"))) {
      // a dead letter names its event's stream: take the event's new one
      yield* sql`UPDATE ${sql(`${schema}.dead_letters`)} d SET stream_id = e.stream_id
        FROM ${sql(`${schema}.events`)} e
        WHERE e.event_id = d.event_id AND e.stream_type IN ${sql.in(types)} AND d.stream_id <> e.stream_id`
    }
  })

/** Create the schema if missing, then run `migrations` tracked in `<schema>.<table>`. */
const migrateInto = (
  table: string,
  migrations: (schema: string) => Record<string, Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>>
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { schema } = yield* PgStoreConfig
    yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`.pipe(
      // two processes creating the schema at once: the loser sees a unique violation; the schema exists
      Effect.catchIf(
        (error) => error.reason._tag === "UniqueViolation",
        () => Effect.void
      )
    )
    return yield* Migrator.make({})({
      loader: Migrator.fromRecord(migrations(schema)),
      table: `${schema}.${table}`
    })
  })

/**
 * Create the schema and bring its tables up to date. Safe to run from several processes at
 * once: the Migrator locks its table, and the schema is created if missing.
 *
 * @category running
 * @since 0.1.0
 */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient
> = Effect.suspend(() => migrateInto("migrations", migrations))

/**
 * Runs the migrations when the layer is built (at start-up).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> =
  Layer.effectDiscard(run)

/**
 * Versioned migrations of an application's own tables (read models, statistics), run by the same
 * Migrator as Eventline's, in the store's schema, tracked in their own table
 * `<schema>.<name>_migrations` so their numbering never collides with Eventline's.
 *
 * @example
 * ```ts
 * import { Migrations } from "@eventline/postgres"
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql"
 *
 * const OrderMigrations = Migrations.layerFor("orders", (schema) => ({
 *   "0001_read_model": Effect.gen(function* () {
 *     const sql = yield* SqlClient.SqlClient
 *     yield* sql`CREATE TABLE ${sql(`${schema}.order_read_models`)} (id text PRIMARY KEY)`
 *   })
 * }))
 * ```
 *
 * @category running
 * @since 0.2.0
 */
export const runFor = (
  name: string,
  migrations: (schema: string) => Record<string, Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>>
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient
> => migrateInto(`${name}_migrations`, migrations)

/**
 * Runs `runFor(name, migrations)` when the layer is built.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerFor = (
  name: string,
  migrations: (schema: string) => Record<string, Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>>
): Layer.Layer<never, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> =>
  Layer.effectDiscard(runFor(name, migrations))
