/**
 * The IdempotencyStore conformance suite: what every idempotency store must do, run against the
 * in-memory, PGlite and PostgreSQL stores alike.
 *
 * @since 0.2.0
 */
import { assert, layer } from "@effect/vitest"
import { IdempotencyStore, Uuid } from "@eventline/core"
import { Duration, Effect, type Layer } from "effect"

const response = (body: string): IdempotencyStore.StoredResponse => ({
  status: 201,
  headers: { "content-type": "application/json", etag: '"1"' },
  body
})

/**
 * @category suites
 * @since 0.2.0
 */
export const run = <E>(name: string, storeLayer: Layer.Layer<IdempotencyStore.IdempotencyStore, E>): void => {
  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(
    `IdempotencyStore conformance: ${name}`,
    (it) => {
      it.effect("the first request claims a key; once complete, the same request replays its response", () =>
        Effect.gen(function* () {
          const store = yield* IdempotencyStore.IdempotencyStore
          const key = yield* Uuid.makeV7
          assert.deepStrictEqual(yield* store.claim(key, "hash-a"), { _tag: "Claimed" })
          const stored = response('{"id":"Zürich 🚀"}')
          yield* store.complete(key, "hash-a", stored)
          assert.deepStrictEqual(yield* store.claim(key, "hash-a"), { _tag: "Replay", response: stored })
          assert.deepStrictEqual(yield* store.claim(key, "hash-a"), { _tag: "Replay", response: stored })
        })
      )

      it.effect("a key used for another request is a mismatch, running or complete", () =>
        Effect.gen(function* () {
          const store = yield* IdempotencyStore.IdempotencyStore
          const key = yield* Uuid.makeV7
          yield* store.claim(key, "hash-a")
          assert.deepStrictEqual(yield* store.claim(key, "hash-b"), { _tag: "Mismatch" })
          yield* store.complete(key, "hash-a", response(""))
          assert.deepStrictEqual(yield* store.claim(key, "hash-b"), { _tag: "Mismatch" })
        })
      )

      it.effect("a key whose first request is still running is in progress", () =>
        Effect.gen(function* () {
          const store = yield* IdempotencyStore.IdempotencyStore
          const key = yield* Uuid.makeV7
          yield* store.claim(key, "hash-a")
          const claim = yield* store.claim(key, "hash-a")
          assert.strictEqual(claim._tag, "InProgress")
          // where the store says how long the claim holds, it is a positive time
          if (claim._tag === "InProgress" && claim.retryAfter !== undefined) {
            assert.isTrue(Duration.isGreaterThan(claim.retryAfter, Duration.zero))
          }
        })
      )

      it.effect("renewing a running claim keeps it; renewing another request's claim changes nothing", () =>
        Effect.gen(function* () {
          const store = yield* IdempotencyStore.IdempotencyStore
          const key = yield* Uuid.makeV7
          yield* store.claim(key, "hash-a")
          yield* store.renew(key, "hash-a")
          yield* store.renew(key, "hash-b")
          assert.strictEqual((yield* store.claim(key, "hash-a"))._tag, "InProgress")
          const stored = response("renewed")
          yield* store.complete(key, "hash-a", stored)
          yield* store.renew(key, "hash-a") // a completed claim stays complete
          assert.deepStrictEqual(yield* store.claim(key, "hash-a"), { _tag: "Replay", response: stored })
          if (store.renewEvery !== undefined) assert.isTrue(Duration.isGreaterThan(store.renewEvery, Duration.zero))
        })
      )

      it.effect("a released key can be claimed again; a completed one cannot be released", () =>
        Effect.gen(function* () {
          const store = yield* IdempotencyStore.IdempotencyStore
          const key = yield* Uuid.makeV7
          yield* store.claim(key, "hash-a")
          yield* store.release(key, "hash-b") // another request's release changes nothing
          assert.strictEqual((yield* store.claim(key, "hash-a"))._tag, "InProgress")
          yield* store.release(key, "hash-a")
          assert.deepStrictEqual(yield* store.claim(key, "hash-b"), { _tag: "Claimed" })
          const stored = response("done")
          yield* store.complete(key, "hash-b", stored)
          yield* store.release(key, "hash-b")
          assert.deepStrictEqual(yield* store.claim(key, "hash-b"), { _tag: "Replay", response: stored })
        })
      )

      it.effect("of concurrent claims of one key exactly one is Claimed, the others see it in progress", () =>
        Effect.gen(function* () {
          const store = yield* IdempotencyStore.IdempotencyStore
          const key = yield* Uuid.makeV7
          const claims = yield* Effect.forEach(
            Array.from({ length: 20 }, () => "hash-a"),
            (hash) => store.claim(key, hash),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(claims.filter((claim) => claim._tag === "Claimed").length, 1)
          assert.strictEqual(claims.filter((claim) => claim._tag === "InProgress").length, claims.length - 1)
        })
      )
    }
  )
}
