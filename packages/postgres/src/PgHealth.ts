/**
 * Readiness checks about the store, in the structural shape HTTP health endpoints take
 * (`{ name, run }`, `run` failing with the reason it is not ready), so this package does not
 * depend on any HTTP package.
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * A named readiness check: `run` fails with the reason it is not ready.
 *
 * @category models
 * @since 0.2.0
 */
export interface Check {
  readonly name: string
  readonly run: Effect.Effect<void, string>
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
