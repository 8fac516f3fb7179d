/** One SQL transaction as a unit of work: the transaction's own failures become InfrastructureError. */
import { Errors } from "@eventline/core"
import { Effect } from "effect"
import { type SqlClient, SqlError } from "effect/sql"

/**
 * Run `effect` in a transaction of `sql` (a savepoint when one is already open). Errors of the
 * effect pass through unchanged; BEGIN/COMMIT failures are `InfrastructureError`.
 *
 * @internal
 */
export const transaction =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Errors.InfrastructureError, R> =>
    sql.withTransaction(effect).pipe(
      Effect.mapError((error): E | Errors.InfrastructureError =>
        // the effect's own errors are never SqlError-wrapped here: a SqlError it failed with is its own
        SqlError.isSqlError(error) ? Errors.infrastructure("transaction")(error) : (error as E)
      )
    )
