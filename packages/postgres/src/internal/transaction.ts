/** One SQL transaction as a unit of work: the transaction's own failures become InfrastructureError. */
import { Errors } from "@eventline/core"
import { Effect } from "effect"
import type { SqlClient } from "effect/sql"

/** A failure of the effect itself, kept apart from the transaction's own (BEGIN, COMMIT) failures. */
class EffectFailed<E> {
  readonly error: E
  constructor(error: E) {
    this.error = error
  }
}

/**
 * Run `effect` in a transaction of `sql` (a savepoint when one is already open). The effect's
 * own errors pass through unchanged (an SqlError of its own statements too); BEGIN/COMMIT
 * failures are `InfrastructureError` of `operation`.
 *
 * @internal
 */
export const transaction =
  (sql: SqlClient.SqlClient, operation = "transaction") =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Errors.InfrastructureError, R> =>
    sql
      .withTransaction(Effect.mapError(effect, (error) => new EffectFailed(error)))
      .pipe(
        Effect.mapError((error): E | Errors.InfrastructureError =>
          error instanceof EffectFailed ? (error.error as E) : Errors.infrastructure(operation)(error)
        )
      )
