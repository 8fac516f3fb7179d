/**
 * PGlite, the embedded default of Eventline: PostgreSQL compiled to WebAssembly,
 * running in-process, behind the same `@effect/sql-pg` client that talks to a
 * real server. The client speaks the wire protocol to PGlite through an
 * in-process stream, so statements, type parsing and error classification are
 * exactly those of `PgClient`.
 *
 * PGlite is one backend session, so the client has exactly one connection:
 * statements from concurrent fibers queue for it, and a transaction reserves it
 * until it commits or rolls back. `LISTEN`/`NOTIFY` and query cancellation are
 * not available. Statements run synchronously on the JavaScript thread: a long
 * one blocks the event loop, and neither interruption nor `statement_timeout`
 * stops it.
 *
 * @since 0.1.0
 */

import { mkdir } from "node:fs/promises"
import { PgClient } from "@effect/sql-pg"
import { PGlite, type PGliteOptions } from "@electric-sql/pglite"
import { Effect, type Layer, Schema, type Scope } from "effect"
import type * as Reactivity from "effect/reactivity/Reactivity"
import type { SqlClient, SqlError } from "effect/sql"
import { pgliteStream } from "./internal/pgliteStream.ts"

/**
 * PGlite could not be started (or its data directory could not be created).
 *
 * @category errors
 * @since 0.1.0
 */
export class PgliteError extends Schema.TaggedError<PgliteError>()("PgliteError", {
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `PGlite failed to start: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/**
 * Settings of the client that runs over PGlite. Connection and pool settings
 * are fixed: one in-process connection.
 *
 * @category models
 * @since 0.1.0
 */
export type PgliteClientConfig = Omit<
  PgClient.PgClientConfig,
  | "url"
  | "host"
  | "port"
  | "path"
  | "ssl"
  | "database"
  | "username"
  | "password"
  | "stream"
  | "keepAlive"
  | "startupOptions"
  | "multiplex"
  | "multiplexConcurrency"
>

/**
 * @category models
 * @since 0.1.0
 */
export interface PgliteClientOptions {
  /**
   * Where PGlite keeps its files. Created (with its parents) when missing;
   * `undefined` keeps the database in memory.
   */
  readonly dataDir?: string | undefined
  /** Options for `PGlite.create`, for example `relaxedDurability`. */
  readonly pglite?: Omit<PGliteOptions, "dataDir"> | undefined
  /** Client settings such as `transformResultNames` or `startupParameters`. */
  readonly client?: PgliteClientConfig | undefined
}

/**
 * A `PgClient` over an existing PGlite instance, with its single connection.
 * The instance is not closed with the scope. Only one client may use an
 * instance at a time: a second one waits for the first to close (and fails
 * after `connectTimeout`). Nothing else may run statements on `db` meanwhile.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromPglite = Effect.fnUntraced(function* (
  db: PGlite,
  config?: PgliteClientConfig | undefined
): Effect.fn.Return<PgClient.PgClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> {
  const client = yield* PgClient.make({
    applicationName: "eventline",
    ...config,
    stream: () => pgliteStream(db),
    ssl: false,
    username: "postgres",
    database: "postgres",
    // One backend session: one connection, opened now and kept, never recycled for idleness.
    maxConnections: 1,
    minConnections: 1
  })
  // Fail here, not at the first query, when the connection cannot be made.
  yield* client`SELECT 1`
  return client
})

/**
 * Starts PGlite (in memory, or on `dataDir`) for the lifetime of the scope and
 * returns a `PgClient` over it. The database is closed when the scope closes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function* (
  options: PgliteClientOptions = {}
): Effect.fn.Return<PgClient.PgClient, PgliteError | SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> {
  const { dataDir } = options
  const db = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        // A plain path (not `memory://`, `idb://`, ...) is a directory on disk.
        if (dataDir !== undefined && !dataDir.includes("://")) await mkdir(dataDir, { recursive: true })
        return PGlite.create(dataDir, options.pglite)
      },
      catch: (cause) => new PgliteError({ cause })
    }),
    (db) =>
      Effect.ignore(
        Effect.tryPromise(() => db.close()),
        { log: "Warn" }
      )
  )
  return yield* fromPglite(db, options.client)
})

/**
 * A layer providing both `PgClient` and `SqlClient` over PGlite. Each build of
 * the layer starts its own database (seconds and hundreds of MB): share it.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: PgliteClientOptions = {}
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, PgliteError | SqlError.SqlError> =>
  PgClient.layerFrom(make(options))
