/**
 * PostgreSQL plumbing of the benchmarks: is the server there, a throwaway database for the run
 * (created from the admin URL, dropped WITH (FORCE) when the scope closes, whatever happened),
 * and the baseline tables and their raw INSERT writer (also used on PGlite).
 */
import { randomUUID } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Array as Arr, Duration, Effect, Option, Redacted, Schema, type Scope } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type AppendWriter, progress } from "./common.ts"

const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** Runs `use` on a one-connection client of the admin database, closed right after. */
const onAdmin = <A>(
  adminUrl: string,
  use: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError.SqlError>
): Effect.Effect<A, SqlError.SqlError> =>
  Effect.scoped(
    Effect.provide(
      SqlClient.SqlClient.use(use),
      PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1, connectTimeout: "3 seconds" })
    )
  )

const VersionRows = Schema.Array(Schema.Struct({ version: Schema.String }))

/** The server's version, or none when it cannot be reached within a few seconds. */
export const serverVersion = (adminUrl: string): Effect.Effect<Option.Option<string>> =>
  onAdmin(adminUrl, (sql) => sql`SELECT current_setting('server_version') AS version`).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(VersionRows)),
    Effect.map((rows) => Option.fromNullishOr(rows[0]?.version)),
    Effect.timeoutOption(Duration.seconds(8)),
    Effect.map(Option.flatten),
    Effect.catch(() => Effect.succeed(Option.none<string>()))
  )

/**
 * A fresh database `eventline_bench_<random>` for the lifetime of the scope; its URL. Dropped
 * WITH (FORCE) on release, also after a failure or an interruption (Ctrl-C under runMain).
 */
export const throwawayDatabase = (adminUrl: string): Effect.Effect<string, SqlError.SqlError, Scope.Scope> => {
  const database = `eventline_bench_${randomUUID().replaceAll("-", "").slice(0, 12)}`
  return Effect.acquireRelease(
    onAdmin(adminUrl, (sql) => sql`CREATE DATABASE ${sql(database)}`).pipe(Effect.as(withDatabase(adminUrl, database))),
    () =>
      onAdmin(adminUrl, (sql) => sql`DROP DATABASE IF EXISTS ${sql(database)} WITH (FORCE)`).pipe(
        Effect.tap(() => progress(`dropped database ${database}`)),
        Effect.catch((error) => progress(`COULD NOT DROP database ${database}: ${error.message}`))
      )
  )
}

/**
 * The baseline tables: the columns of `eventline.events`, nothing else. `plain` keeps only the
 * identity primary key (a log needs its position); `indexed` adds eventline's CHECKs, UNIQUEs
 * and log-order indexes, to tell index upkeep apart from the rest of eventline's statement.
 */
export const createBaselineTables = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS bench`
  yield* sql`CREATE TABLE IF NOT EXISTS bench.plain_events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id text NOT NULL,
    stream_type text NOT NULL,
    version integer NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS bench.indexed_events (
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
  yield* sql`CREATE INDEX IF NOT EXISTS indexed_events_log_order ON bench.indexed_events (transaction_id, global_position)`
  yield* sql`CREATE INDEX IF NOT EXISTS indexed_events_type_log_order
    ON bench.indexed_events (stream_type, transaction_id, global_position)`
})

const CountRows = Schema.Array(Schema.Struct({ count: Schema.String }))

/** How many events eventline's log holds. */
export const countEvents = (sql: SqlClient.SqlClient) =>
  sql`SELECT count(*)::text AS count FROM eventline.events`.pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(CountRows)),
    Effect.map((rows) => Number(rows[0]?.count ?? 0))
  )

/**
 * A UUID version 7 (time-ordered, as the ids eventline makes), cheaply: node's pooled random
 * v4 with its first 48 bits replaced by the Unix milliseconds. The baselines use it so their
 * id indexes see the same right-leaning inserts as eventline's.
 */
export const uuidV7 = (): string => {
  const millis = Date.now().toString(16).padStart(12, "0")
  return `${millis.slice(0, 8)}-${millis.slice(8, 12)}-7${randomUUID().slice(15)}`
}

export type BaselineTable = "bench.plain_events" | "bench.indexed_events"

/**
 * The baseline append: one multi-row INSERT of the same rows eventline writes (same columns,
 * same JSON text for the jsonb payloads, versions numbered by the caller), no checks, no lock,
 * no NOTIFY, nothing returned.
 */
export const rawInsertWriter =
  (sql: SqlClient.SqlClient, table: BaselineTable, streamType: string): AppendWriter<SqlError.SqlError, never> =>
  (streamId, round, events) => {
    const rows = events.map(
      (event, index): Record<string, unknown> => ({
        stream_id: streamId,
        stream_type: streamType,
        version: round * events.length + index + 1,
        event_id: uuidV7(),
        event_type: event.type,
        schema_version: event.schemaVersion,
        data: JSON.stringify(event.data),
        metadata: JSON.stringify(event.metadata)
      })
    )
    return Arr.isReadonlyArrayNonEmpty(rows) ? sql`INSERT INTO ${sql(table)} ${sql.insert(rows)}` : Effect.void
  }
