/**
 * The port behind idempotency keys: a key is claimed by the first request that carries it, its
 * response is stored when that request completes, and later requests with the same key either
 * replay the response (same request) or are refused (another request, or the first still
 * running). Storage adapters implement it (`PgIdempotencyStore` in @eventline/postgres); the
 * in-memory layer serves tests and single-process demos. `IdempotencyStoreConformance` in
 * @eventline/testing says what every implementation must do.
 *
 * A claim is held by a running request: a store whose claims can outlive their owner (a process
 * killed mid-request) gives them a lease, which the owner renews every `renewEvery` while it
 * runs, and says in `InProgress` how long until the lease ends (`retryAfter`).
 *
 * @since 0.2.0
 */
import { Context, type Duration, Effect, Layer, Option, Ref, Schema } from "effect"
import type { InfrastructureError } from "./Errors.ts"

/**
 * A stored response: its status, the headers worth replaying, and its body as text.
 *
 * @category schemas
 * @since 0.2.0
 */
export const StoredResponse = Schema.Struct({
  status: Schema.Int,
  headers: Schema.Record(Schema.String, Schema.String),
  body: Schema.String
})

/**
 * @category models
 * @since 0.2.0
 */
export type StoredResponse = typeof StoredResponse.Type

/**
 * What claiming a key found: it is ours now (`Claimed`), its first request completed with the
 * same hash (`Replay`), it was used for another request (`Mismatch`), or its first request is
 * still running (`InProgress`).
 *
 * @category models
 * @since 0.2.0
 */
export type Claim =
  | { readonly _tag: "Claimed" }
  | { readonly _tag: "Replay"; readonly response: StoredResponse }
  | { readonly _tag: "Mismatch" }
  | {
      readonly _tag: "InProgress"
      /** How long until the claim's lease ends, where the store knows (since 0.3.0). */
      readonly retryAfter?: Duration.Duration | undefined
    }

/**
 * @category services
 * @since 0.2.0
 */
export class IdempotencyStore extends Context.Service<
  IdempotencyStore,
  {
    /** Claim `key` for the request hashed `requestHash`; of concurrent claims exactly one wins. */
    readonly claim: (key: string, requestHash: string) => Effect.Effect<Claim, InfrastructureError>
    /** Store the response of a claimed key, to be replayed. */
    readonly complete: (
      key: string,
      requestHash: string,
      response: StoredResponse
    ) => Effect.Effect<void, InfrastructureError>
    /** Give a claimed key back (the request failed on our side), so that a retry runs again. */
    readonly release: (key: string, requestHash: string) => Effect.Effect<void, InfrastructureError>
    /** Extend the lease of a claim still running (since 0.3.0). */
    readonly renew: (key: string, requestHash: string) => Effect.Effect<void, InfrastructureError>
    /** How often a running claim renews its lease; `undefined`: claims have no lease (since 0.3.0). */
    readonly renewEvery: Duration.Duration | undefined
  }
>()("@eventline/core/IdempotencyStore") {}

type Rows = ReadonlyMap<string, { readonly hash: string; readonly response: Option.Option<StoredResponse> }>

/**
 * An in-memory store (nothing expires, nothing survives a restart).
 *
 * @category constructors
 * @since 0.2.0
 */
export const makeMemory: Effect.Effect<IdempotencyStore["Service"]> = Effect.map(Ref.make<Rows>(new Map()), (rows) =>
  IdempotencyStore.of({
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
      Ref.update(rows, (map): Rows => {
        const row = map.get(key)
        // only the claim of this request may complete
        if (row === undefined || row.hash !== hash) return map
        return new Map(map).set(key, { hash, response: Option.some(response) })
      }),
    release: (key, hash) =>
      Ref.update(rows, (map): Rows => {
        const row = map.get(key)
        if (row === undefined || row.hash !== hash || Option.isSome(row.response)) return map
        const next = new Map(map)
        next.delete(key)
        return next
      }),
    // claims in memory die with their process: nothing to renew
    renew: () => Effect.void,
    renewEvery: undefined
  })
)

/**
 * An in-memory store, for tests and single-process demos.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<IdempotencyStore> = Layer.effect(IdempotencyStore, makeMemory)
