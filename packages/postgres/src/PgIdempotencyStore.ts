/**
 * The `IdempotencyStore` on the event store's SQL database (PGlite or PostgreSQL), in the table
 * `<schema>.idempotency_keys` that migration `0003_idempotency_keys` creates.
 *
 * Keys are claimed insert-first (`INSERT ... ON CONFLICT`), so two concurrent requests with one
 * key never both run. A claim has a lease: a process that dies mid-request leaves a row that is
 * taken over once the lease expires. Rows expire after `ttl` (default 24 hours) and are pruned
 * in the background for the lifetime of the layer.
 *
 * @since 0.2.0
 */
import { Errors, IdempotencyStore } from "@eventline/core"
import { Duration, Effect, Layer, Option, Schedule, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** How long a stored response is replayed. Default: 24 hours. */
  readonly ttl?: Duration.Input | undefined
  /** How long a claim holds before another request may take it over. Default: 1 minute. */
  readonly lease?: Duration.Input | undefined
  /** How often expired rows are deleted. Default: 10 minutes. */
  readonly pruneInterval?: Duration.Input | undefined
}

const Row = Schema.Struct({
  request_hash: Schema.String,
  status: Schema.Literals(["in_progress", "completed"]),
  response: Schema.NullOr(IdempotencyStore.StoredResponse)
})

// a row released between the insert and the read: claim again, a few times
const claimAgain = Schedule.recurs(2)

/** The key was released between our insert and our read: try the claim again. */
class Released extends Schema.TaggedError<Released>()("Released", {}) {}

/**
 * The store on the SQL database in context. Its table must exist (run `Migrations`); expired
 * rows are pruned by a fiber of the scope.
 *
 * @category constructors
 * @since 0.2.0
 */
export const make = Effect.fnUntraced(function* (options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig
  const table = sql(`${config.schema}.idempotency_keys`)
  const ttlSeconds = Duration.toSeconds(Duration.fromInputUnsafe(options?.ttl ?? "24 hours"))
  const leaseSeconds = Duration.toSeconds(Duration.fromInputUnsafe(options?.lease ?? "1 minute"))

  const tryInsert = (key: string, hash: string) =>
    sql`INSERT INTO ${table} AS k (key, request_hash, status, locked_until)
      VALUES (${key}, ${hash}, 'in_progress', now() + ${leaseSeconds} * interval '1 second')
      ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status = 'in_progress',
        response = NULL, created_at = now(), locked_until = EXCLUDED.locked_until
      WHERE (k.status = 'in_progress' AND k.locked_until < now())
         OR k.created_at < now() - ${ttlSeconds} * interval '1 second'
      RETURNING k.key`

  const find = SqlSchema.findOneOption({
    Request: Schema.String,
    Result: Row,
    execute: (key) => sql`SELECT request_hash, status, response FROM ${table} WHERE key = ${key}`
  })

  const claim = (key: string, hash: string): Effect.Effect<IdempotencyStore.Claim, Errors.InfrastructureError> =>
    Effect.gen(function* () {
      const inserted = yield* tryInsert(key, hash)
      if (inserted.length > 0) return { _tag: "Claimed" } as const
      const row = yield* find(key)
      if (Option.isNone(row)) return yield* new Released()
      if (row.value.request_hash !== hash) return { _tag: "Mismatch" } as const
      if (row.value.status === "in_progress" || row.value.response === null) return { _tag: "InProgress" } as const
      return { _tag: "Replay", response: row.value.response } as const
    }).pipe(
      Effect.retry({ schedule: claimAgain, while: (error) => error._tag === "Released" }),
      Effect.catchTag("Released", () => Effect.succeed({ _tag: "InProgress" } as const)),
      Effect.mapError(Errors.infrastructure("idempotency.claim"))
    )

  const complete = (key: string, hash: string, response: IdempotencyStore.StoredResponse) =>
    sql`UPDATE ${table} SET status = 'completed', response = ${JSON.stringify(response)}::jsonb, locked_until = NULL
      WHERE key = ${key} AND request_hash = ${hash}`.pipe(
      Effect.asVoid,
      Effect.mapError(Errors.infrastructure("idempotency.complete"))
    )

  const release = (key: string, hash: string) =>
    sql`DELETE FROM ${table} WHERE key = ${key} AND request_hash = ${hash} AND status = 'in_progress'`.pipe(
      Effect.asVoid,
      Effect.mapError(Errors.infrastructure("idempotency.release"))
    )

  yield* sql`DELETE FROM ${table} WHERE created_at < now() - ${ttlSeconds} * interval '1 second'`.pipe(
    Effect.catchCause((cause) => Effect.logWarning("pruning expired idempotency keys failed", cause)),
    Effect.repeat(Schedule.spaced(options?.pruneInterval ?? "10 minutes")),
    Effect.forkScoped
  )

  return IdempotencyStore.IdempotencyStore.of({ claim, complete, release })
})

/**
 * The store on the SQL database in context (PGlite or PostgreSQL).
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (options?: Options): Layer.Layer<IdempotencyStore.IdempotencyStore, never, SqlClient.SqlClient> =>
  Layer.effect(IdempotencyStore.IdempotencyStore, make(options))
