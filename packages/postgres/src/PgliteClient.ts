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
import { Effect, type Layer, Schedule, Schema, type Scope } from "effect"
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
  /**
   * PostgreSQL settings (`-c name=value` at start-up), over {@link defaultSettings}. Ignored
   * when `pglite.startParams` is given.
   *
   * @since 0.2.0
   */
  readonly settings?: Readonly<Record<string, string>> | undefined
  /** Options for `PGlite.create`, for example `initialMemory` or `startParams`. */
  readonly pglite?: Omit<PGliteOptions, "dataDir"> | undefined
  /** Client settings such as `transformResultNames` or `startupParameters`. */
  readonly client?: PgliteClientConfig | undefined
}

/**
 * The settings PGlite starts with by default: sized for its one backend session rather than a
 * server's 100 connections and 128MB of shared buffers. Pages the buffers touch stay resident, so
 * smaller buffers keep the process's memory flat as the data grows (the operating system's
 * page cache, or PGlite's in-memory files, still hold the data). None of them weakens durability.
 *
 * @category constants
 * @since 0.2.0
 */
export const defaultSettings: Readonly<Record<string, string>> = {
  shared_buffers: "16MB",
  max_connections: "1",
  superuser_reserved_connections: "0",
  reserved_connections: "0",
  // keep at most two spare WAL segments after a checkpoint (in memory they are resident)
  min_wal_size: "32MB",
  max_wal_size: "64MB"
}

/** PGlite's own start parameters, then ours as `-c` settings (later ones win). */
const startParams = (settings: Readonly<Record<string, string>> | undefined): Array<string> => [
  ...PGlite.defaultStartParams,
  ...Object.entries({ ...defaultSettings, ...settings }).flatMap(([name, value]) => ["-c", `${name}=${value}`])
]

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
 * PostgreSQL in single-user mode (PGlite) never checkpoints on its own, so without this its WAL
 * grows with every write (resident, when in memory) and a restart after a crash replays all of
 * it. A checkpoint runs once a WAL segment (16MB) has been written since the last one.
 */
const checkpointWhenDue = (client: PgClient.PgClient) =>
  Effect.ignore(
    Effect.gen(function* () {
      const [row] = yield* client<{ readonly due: boolean }>`
        SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), (pg_control_checkpoint()).redo_lsn) >= 16777216 AS due`
      if (row?.due === true) yield* client`CHECKPOINT`
    }),
    { log: "Warn" }
  )

/**
 * Starts PGlite (in memory, or on `dataDir`) for the lifetime of the scope and
 * returns a `PgClient` over it, checkpointing every 30 seconds once a WAL segment
 * was written. The database is closed when the scope closes.
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
        return PGlite.create(dataDir, { startParams: startParams(options.settings), ...options.pglite })
      },
      catch: (cause) => new PgliteError({ cause })
    }),
    (db) =>
      Effect.ignore(
        Effect.tryPromise(() => db.close()),
        { log: "Warn" }
      )
  )
  const client = yield* fromPglite(db, options.client)
  yield* checkpointWhenDue(client).pipe(Effect.repeat(Schedule.spaced("30 seconds")), Effect.forkScoped)
  return client
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
