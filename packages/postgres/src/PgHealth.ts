/**
 * Readiness checks about the store, in the structural shape HTTP health endpoints take
 * (`{ name, run }`, `run` failing with the reason it is not ready), so this package does not
 * depend on any HTTP package.
 *
 * @since 0.2.0
 */
import { Duration, Effect, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { appendLock } from "./internal/appendSql.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * A check that passed but reports a problem (readiness stays up).
 *
 * @category models
 * @since 0.3.0
 */
export interface Degraded {
  readonly degraded: string
}

/**
 * A named readiness check: `run` fails with the reason it is not ready, or succeeds with
 * `Degraded` when it is ready but something needs attention.
 *
 * @category models
 * @since 0.2.0
 */
export interface Check {
  readonly name: string
  // biome-ignore lint/suspicious/noConfusingVoidType: checks that only pass or fail return Effect<void>
  readonly run: Effect.Effect<void | Degraded, string>
}

/**
 * The store answers and is migrated (its migrations table is readable). The schema is the
 * `PgStoreConfig` in context (a reference with a default, so it is not a requirement).
 *
 * @category checks
 * @since 0.2.0
 */
export const store = (name = "store"): Effect.Effect<Check, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const config = yield* PgStoreConfig
    const migrations = sql(`${config.schema}.migrations`)
    return {
      name,
      run: sql`SELECT 1 FROM ${migrations} LIMIT 1`.pipe(
        Effect.asVoid,
        Effect.mapError((error) => `unreachable or not migrated: ${error.message}`)
      )
    }
  })

const Holder = Schema.Struct({ pid: Schema.Int, age_seconds: Schema.Number })

/**
 * Degraded while an appending transaction has been open longer than `olderThan` (default 5
 * seconds): readers of the global log (projections, process managers, the event tail) wait for
 * every append that is still open, so such a transaction holds all of them back. The detail names
 * the oldest holders by backend pid and age (`pg_terminate_backend(pid)` ends one). Transactions
 * that never append, in this database or another, do not hold readers back and are not reported.
 *
 * @category checks
 * @since 0.3.0
 */
export const appendsHeldOpen = (
  options: { readonly name?: string | undefined; readonly olderThan?: Duration.Input | undefined } = {}
): Effect.Effect<Check, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const config = yield* PgStoreConfig
    const key = appendLock(config.schema)
    const olderThan = Duration.fromInputUnsafe(options.olderThan ?? "5 seconds")
    const holders = SqlSchema.findAll({
      Request: Schema.Number,
      Result: Holder,
      execute: (seconds) =>
        sql`SELECT l.pid, extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS age_seconds
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ${key.classid} AND l.objid = ${key.objid}
            AND l.objsubid = 2 AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
            AND a.xact_start <= clock_timestamp() - make_interval(secs => ${seconds})
          ORDER BY a.xact_start LIMIT 5`
    })
    return {
      name: options.name ?? "appends-held-open",
      run: holders(Duration.toMillis(olderThan) / 1000).pipe(
        Effect.mapError((error) => `open appends unknown: ${error.message}`),
        Effect.map((found): undefined | Degraded =>
          found.length === 0
            ? undefined
            : {
                degraded: `readers wait for appending transactions open longer than ${Duration.format(olderThan)}: ${found
                  .map((holder) => `pid ${holder.pid} (${holder.age_seconds.toFixed(1)} s)`)
                  .join(", ")}`
              }
        )
      )
    }
  })
