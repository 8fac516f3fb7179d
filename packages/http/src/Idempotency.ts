/**
 * Idempotency keys (the IETF `Idempotency-Key` header): the first request with a key runs and
 * its response is stored; the same key with the same request (method, path and body) replays
 * the stored response; the same key with another request is refused (422); a second request
 * while the first is still running is refused (409, retry later).
 *
 * Keys are claimed insert-first (`INSERT ... ON CONFLICT`), so two concurrent requests with one
 * key never both run. A claim has a lease: a process that dies mid-request leaves a row that is
 * taken over once the lease expires. Responses below 500 are stored; a 5xx, a defect or an
 * interruption releases the key so that the client can retry. Rows expire after `ttl`
 * (default 24 hours) and are pruned in the background.
 *
 * The store lives in the event store's database (`PgStoreConfig.schema`), so it works on PGlite
 * and PostgreSQL and survives restarts. Its table is created at start-up (idempotent DDL).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Errors } from "@eventline/core"
import { PgStoreConfig } from "@eventline/postgres"
import { Context, Duration, Effect, Layer, Option, Ref, Schedule, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * A stored response.
 *
 * @category models
 * @since 0.1.0
 */
export const StoredResponse = Schema.Struct({
  status: Schema.Int,
  headers: Schema.Record(Schema.String, Schema.String),
  body: Schema.String
})

/**
 * @category models
 * @since 0.1.0
 */
export type StoredResponse = typeof StoredResponse.Type

/**
 * What claiming a key found.
 *
 * @category models
 * @since 0.1.0
 */
export type Claim =
  | { readonly _tag: "Claimed" }
  | { readonly _tag: "Replay"; readonly response: StoredResponse }
  | { readonly _tag: "Mismatch" }
  | { readonly _tag: "InProgress" }

/**
 * @category services
 * @since 0.1.0
 */
export class IdempotencyStore extends Context.Service<
  IdempotencyStore,
  {
    readonly claim: (key: string, requestHash: string) => Effect.Effect<Claim, Errors.InfrastructureError>
    readonly complete: (
      key: string,
      requestHash: string,
      response: StoredResponse
    ) => Effect.Effect<void, Errors.InfrastructureError>
    readonly release: (key: string, requestHash: string) => Effect.Effect<void, Errors.InfrastructureError>
  }
>()("@eventline/http/Idempotency/IdempotencyStore") {}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** How long a stored response is replayed. Default: 24 hours. */
  readonly ttl?: Duration.Input | undefined
  /** How long a claim holds before another request may take it over. Default: 1 minute. */
  readonly lease?: Duration.Input | undefined
}

/**
 * An `Idempotency-Key` value: 1 to 255 visible ASCII characters.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Key = Schema.String.check(
  Schema.isPattern(/^[\x21-\x7e]{1,255}$/, {
    message: "an Idempotency-Key must be 1 to 255 visible ASCII characters"
  })
).annotate({ description: "Makes the request safe to retry: the same key and body replays the first response." })

/**
 * The hash a key is bound to: method, path with query, and body.
 *
 * @category hashing
 * @since 0.1.0
 */
export const requestHash = (method: string, url: string, body: Uint8Array): string =>
  createHash("sha256").update(`${method.toUpperCase()} ${url}\n`).update(body).digest("hex")

const Row = Schema.Struct({
  request_hash: Schema.String,
  status: Schema.Literals(["in_progress", "completed"]),
  response: Schema.NullOr(StoredResponse)
})
const Rows = Schema.Array(Row)

const infrastructure = (operation: string) => (cause: SqlError.SqlError | Schema.SchemaError) =>
  new Errors.InfrastructureError({ operation: `idempotency.${operation}`, cause })

/**
 * The store on the event store's SQL database.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeSql = Effect.fnUntraced(function* (options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig.PgStoreConfig
  const table = sql(`${config.schema}.idempotency_keys`)
  const ttlSeconds = Duration.toSeconds(Duration.fromInputUnsafe(options?.ttl ?? "24 hours"))
  const leaseSeconds = Duration.toSeconds(Duration.fromInputUnsafe(options?.lease ?? "1 minute"))

  yield* sql`CREATE TABLE IF NOT EXISTS ${table} (
    key text PRIMARY KEY,
    request_hash text NOT NULL,
    status text NOT NULL CHECK (status IN ('in_progress', 'completed')),
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
  )`.pipe(
    // two processes creating the table at once: the loser sees a unique violation; the table exists
    Effect.catchIf(
      (error) => error.reason._tag === "UniqueViolation",
      () => Effect.void
    ),
    Effect.mapError(infrastructure("migrate"))
  )

  const tryInsert = (key: string, hash: string) =>
    sql`INSERT INTO ${table} AS k (key, request_hash, status, locked_until)
      VALUES (${key}, ${hash}, 'in_progress', now() + ${leaseSeconds} * interval '1 second')
      ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status = 'in_progress',
        response = NULL, created_at = now(), locked_until = EXCLUDED.locked_until
      WHERE (k.status = 'in_progress' AND k.locked_until < now())
         OR k.created_at < now() - ${ttlSeconds} * interval '1 second'
      RETURNING k.key`

  const claim = (key: string, hash: string): Effect.Effect<Claim, Errors.InfrastructureError> =>
    Effect.gen(function* () {
      // a row released between the insert and the read: try again (a few times)
      for (let attempt = 0; attempt < 3; attempt++) {
        const inserted = yield* tryInsert(key, hash)
        if (inserted.length > 0) return { _tag: "Claimed" } as const
        const rows = yield* sql`SELECT request_hash, status, response FROM ${table} WHERE key = ${key}`.pipe(
          Effect.flatMap(Schema.decodeUnknownEffect(Rows))
        )
        const row = rows[0]
        if (row === undefined) continue
        if (row.request_hash !== hash) return { _tag: "Mismatch" } as const
        if (row.status === "in_progress" || row.response === null) return { _tag: "InProgress" } as const
        return { _tag: "Replay", response: row.response } as const
      }
      return { _tag: "InProgress" } as const
    }).pipe(Effect.mapError(infrastructure("claim")))

  const complete = (key: string, hash: string, response: StoredResponse) =>
    sql`UPDATE ${table} SET status = 'completed', response = ${JSON.stringify(response)}::jsonb, locked_until = NULL
      WHERE key = ${key} AND request_hash = ${hash}`.pipe(Effect.asVoid, Effect.mapError(infrastructure("complete")))

  const release = (key: string, hash: string) =>
    sql`DELETE FROM ${table} WHERE key = ${key} AND request_hash = ${hash} AND status = 'in_progress'`.pipe(
      Effect.asVoid,
      Effect.mapError(infrastructure("release"))
    )

  yield* sql`DELETE FROM ${table} WHERE created_at < now() - ${ttlSeconds} * interval '1 second'`.pipe(
    Effect.catchCause((cause) => Effect.logWarning("pruning expired idempotency keys failed", cause)),
    Effect.repeat(Schedule.spaced("10 minutes")),
    Effect.forkScoped
  )

  return IdempotencyStore.of({ claim, complete, release })
})

/**
 * The store on the SQL database in context (PGlite or PostgreSQL), its table created at start-up.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSql = (
  options?: Options
): Layer.Layer<IdempotencyStore, Errors.InfrastructureError, SqlClient.SqlClient> =>
  Layer.effect(IdempotencyStore, makeSql(options))

/**
 * An in-memory store, for tests and single-process demos (nothing survives a restart).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<IdempotencyStore> = Layer.effect(
  IdempotencyStore,
  Effect.gen(function* () {
    type Rows = Map<string, { readonly hash: string; readonly response: Option.Option<StoredResponse> }>
    const rows = yield* Ref.make<Rows>(new Map())
    return IdempotencyStore.of({
      claim: (key, hash) =>
        Ref.modify(rows, (map): readonly [Claim, Rows] => {
          const row = map.get(key)
          if (row === undefined) return [{ _tag: "Claimed" }, new Map(map).set(key, { hash, response: Option.none() })]
          if (row.hash !== hash) return [{ _tag: "Mismatch" }, map]
          return Option.isNone(row.response)
            ? [{ _tag: "InProgress" }, map]
            : [{ _tag: "Replay", response: row.response.value }, map]
        }),
      complete: (key, hash, response) =>
        Ref.update(rows, (map): Rows => new Map(map).set(key, { hash, response: Option.some(response) })),
      release: (key, hash) =>
        Ref.update(rows, (map): Rows => {
          const row = map.get(key)
          if (row === undefined || row.hash !== hash || Option.isSome(row.response)) return map
          const next = new Map(map)
          next.delete(key)
          return next
        })
    })
  })
)
