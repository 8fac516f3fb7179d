/**
 * The `IdempotencyStore` on the event store's SQL database (PGlite or PostgreSQL), in the table
 * `<schema>.idempotency_keys` that migration `0003_idempotency_keys` creates.
 *
 * Keys are claimed insert-first (`INSERT ... ON CONFLICT`), so two concurrent requests with one
 * key never both run. A claim has a short lease (default 10 seconds) that its request renews
 * while it runs (`renew`, every third of the lease): a process that dies mid-request leaves a
 * row that is taken over once the lease expires, and a request that finds the key in progress is
 * told how long that is (`retryAfter`). Rows expire after `ttl` (default 24 hours) and are
 * pruned in the background for the lifetime of the layer.
 *
 * @since 0.2.0
 */
import { Errors, IdempotencyStore } from "@eventline/core"
import { Duration, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { retryOnConnectionLoss } from "./internal/transient.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** How long a stored response is replayed. Default: 24 hours. */
  readonly ttl?: Duration.Input | undefined
  /** How long a claim holds unless renewed, before another request may take it over. Default: 10 seconds (before 0.3.0: 1 minute). */
  readonly lease?: Duration.Input | undefined
  /** How often expired rows are deleted. Default: 10 minutes. */
  readonly pruneInterval?: Duration.Input | undefined
}

/**
 * How long a claim holds unless its request renews it.
 *
 * @category constants
 * @since 0.3.0
 */
export const defaultLease: Duration.Duration = Duration.seconds(10)

const Row = Schema.Struct({
  claimed: Schema.Boolean,
  request_hash: Schema.NullOr(Schema.String),
  status: Schema.NullOr(Schema.Literals(["in_progress", "completed"])),
  response: Schema.NullOr(IdempotencyStore.StoredResponse),
  lease_left: Schema.NullOr(Schema.Number)
})
const decodeRows = Schema.decodeUnknownEffect(Schema.Array(Row))

// a row released between the insert and the read: claim again, a few times
const claimAgain = Schedule.recurs(2)

/** The key was released between our insert and our read: try the claim again. */
class Released extends Schema.TaggedError<Released>()("Released", {}) {}

/**
 * The store on the SQL database in context. Its table must exist (run `Migrations`); expired
 * rows are pruned by a fiber of the scope.
 *
 * Each operation is one statement whose text is built once (the driver keeps it prepared): a
 * claim inserts the key, or takes over an expired one, and otherwise returns the row it found,
 * in one round trip.
 *
 * @category constructors
 * @since 0.2.0
 */
export const make = Effect.fnUntraced(function* (options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig
  const table = `"${config.schema.replaceAll('"', '""')}".idempotency_keys`
  const ttlSeconds = Duration.toSeconds(Duration.fromInputUnsafe(options?.ttl ?? "24 hours"))
  const lease = Duration.fromInputUnsafe(options?.lease ?? defaultLease)
  const leaseSeconds = Duration.toSeconds(lease)
  // complete, release and renew are idempotent. A claim that committed but whose answer was lost
  // finds its own row on the retry and reports InProgress: never a second run of the request
  const retry = retryOnConnectionLoss(sql)

  // $1 key, $2 request hash, $3 lease seconds, $4 ttl seconds. The read of a row that exists sees
  // the statement's snapshot: a row committed concurrently after it is not seen (none: claim again)
  const claimText = `WITH claimed AS (
      INSERT INTO ${table} AS k (key, request_hash, status, locked_until)
      VALUES ($1, $2, 'in_progress', now() + $3 * interval '1 second')
      ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status = 'in_progress',
        response = NULL, created_at = now(), locked_until = EXCLUDED.locked_until
      WHERE (k.status = 'in_progress' AND k.locked_until < now())
         OR k.created_at < now() - $4 * interval '1 second'
      RETURNING k.key
    )
    SELECT true AS claimed, NULL::text AS request_hash, NULL::text AS status, NULL::jsonb AS response,
      NULL::float8 AS lease_left FROM claimed
    UNION ALL
    SELECT false, request_hash, status, response, EXTRACT(EPOCH FROM locked_until - now())::float8 FROM ${table}
    WHERE key = $1 AND NOT EXISTS (SELECT FROM claimed)`.replace(/\s+/g, " ")
  const completeText = `UPDATE ${table} SET status = 'completed', response = $3::jsonb, locked_until = NULL
    WHERE key = $1 AND request_hash = $2`.replace(/\s+/g, " ")
  const releaseText = `DELETE FROM ${table} WHERE key = $1 AND request_hash = $2 AND status = 'in_progress'`
  const renewText = `UPDATE ${table} SET locked_until = now() + $3 * interval '1 second'
    WHERE key = $1 AND request_hash = $2 AND status = 'in_progress'`.replace(/\s+/g, " ")

  const claim = (key: string, hash: string): Effect.Effect<IdempotencyStore.Claim, Errors.InfrastructureError> =>
    Effect.gen(function* () {
      const [row] = yield* Effect.flatMap(
        retry(sql.unsafe(claimText, [key, hash, leaseSeconds, ttlSeconds])),
        decodeRows
      )
      if (row === undefined) return yield* new Released()
      if (row.claimed) return { _tag: "Claimed" } as const
      if (row.request_hash !== hash) return { _tag: "Mismatch" } as const
      if (row.status === "in_progress" || row.response === null) {
        return {
          _tag: "InProgress",
          retryAfter: Duration.seconds(Math.max(0, row.lease_left ?? leaseSeconds))
        } as const
      }
      return { _tag: "Replay", response: row.response } as const
    }).pipe(
      Effect.retry({ schedule: claimAgain, while: (error) => error._tag === "Released" }),
      Effect.catchTag("Released", () =>
        Effect.succeed({ _tag: "InProgress", retryAfter: Duration.seconds(1) } as const)
      ),
      Effect.mapError(Errors.infrastructure("idempotency.claim"))
    )

  const complete = (key: string, hash: string, response: IdempotencyStore.StoredResponse) =>
    sql
      .unsafe(completeText, [key, hash, JSON.stringify(response)])
      .pipe(retry, Effect.asVoid, Effect.mapError(Errors.infrastructure("idempotency.complete")))

  const release = (key: string, hash: string) =>
    sql
      .unsafe(releaseText, [key, hash])
      .pipe(retry, Effect.asVoid, Effect.mapError(Errors.infrastructure("idempotency.release")))

  const renew = (key: string, hash: string) =>
    sql
      .unsafe(renewText, [key, hash, leaseSeconds])
      .pipe(retry, Effect.asVoid, Effect.mapError(Errors.infrastructure("idempotency.renew")))

  yield* sql`DELETE FROM ${sql(`${config.schema}.idempotency_keys`)} WHERE created_at < now() - ${ttlSeconds} * interval '1 second'`.pipe(
    Effect.catchCause((cause) => Effect.logWarning("pruning expired idempotency keys failed", cause)),
    Effect.repeat(Schedule.spaced(options?.pruneInterval ?? "10 minutes")),
    Effect.forkScoped
  )

  return IdempotencyStore.IdempotencyStore.of({
    claim,
    complete,
    release,
    renew,
    renewEvery: Duration.divideUnsafe(lease, 3)
  })
})

/**
 * The store on the SQL database in context (PGlite or PostgreSQL).
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (options?: Options): Layer.Layer<IdempotencyStore.IdempotencyStore, never, SqlClient.SqlClient> =>
  Layer.effect(IdempotencyStore.IdempotencyStore, make(options))
