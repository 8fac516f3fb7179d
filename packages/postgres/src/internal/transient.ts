/**
 * Connection loss: a statement that failed because its session died (the backend was terminated,
 * the server restarted, the socket was reset) may succeed on a fresh connection, which the pool
 * hands out once it has discarded the dead one (`@effect/sql-pg` retires a session on any fatal
 * error and checks every checkout).
 *
 * How `@effect/sql-pg` 4 reports it: a reason `ConnectionError` for a socket error, a closed or
 * reset connection, a failed connect and every SQLSTATE of class 08; and, when the server's
 * FATAL message reached the session while it was idle, an `UnknownError` whose cause carries
 * the SQLSTATE (57P01 admin shutdown, i.e. `pg_terminate_backend`; 57P02 crash shutdown; 57P03
 * cannot connect now; 57P05 idle session timeout).
 *
 * A retry is safe only for an idempotent statement, and never for one statement of a
 * transaction: the transaction died with its session, so the retry is the whole unit of work's.
 */
import { Effect, Option, Schedule } from "effect"
import { type SqlClient, SqlError } from "effect/sql"

/** SQLSTATEs of a session the server ended (class 57P, operator intervention). */
const sessionEndedCodes: ReadonlySet<string> = new Set(["57P01", "57P02", "57P03", "57P05"])

const sqlStateOf = (cause: unknown): string | undefined => {
  if (typeof cause !== "object" || cause === null || !("code" in cause)) return undefined
  return typeof cause.code === "string" ? cause.code : undefined
}

/**
 * Whether `error` is an `SqlError` caused by the loss of the statement's connection.
 *
 * @since 0.3.0
 */
export const isConnectionLoss = (error: unknown): error is SqlError.SqlError => {
  if (!SqlError.isSqlError(error)) return false
  const { reason } = error
  if (reason._tag === "ConnectionError") return true
  if (reason._tag !== "UnknownError") return false
  const code = sqlStateOf(reason.cause)
  return code !== undefined && sessionEndedCodes.has(code)
}

/**
 * Short jittered exponential backoff: 5 attempts after the first, about 1.5 s at most in all,
 * long enough for the pool to reconnect after a terminated backend, short enough for a request
 * to still answer in time; a server that stays down is reported, not waited for.
 *
 * @since 0.3.0
 */
export const connectionLossSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("25 millis", 2.5).pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 5, duration: "1500 millis" })
)

/**
 * Runs `effect` again on connection loss (see {@link isConnectionLoss}), with
 * {@link connectionLossSchedule}, unless it runs inside a transaction of `sql`: a statement of a
 * transaction is never retried alone. Only for effects that are safe to run twice (reads, writes
 * whose second run changes nothing).
 *
 * @since 0.3.0
 */
export const retryOnConnectionLoss =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Effect.serviceOption(sql.transactionService), (transaction) =>
      Option.isSome(transaction)
        ? effect
        : Effect.retry(effect, { schedule: connectionLossSchedule, while: isConnectionLoss })
    )
