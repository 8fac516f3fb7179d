/**
 * The CheckpointStore conformance suite: checkpoints and the leases that fence them, as tests
 * every store must pass, run against the in-memory, PGlite and PostgreSQL stores alike.
 *
 * Tests share one store per suite, so each works on subscriptions of its own. Lease expiry runs
 * on the real clock (the SQL stores use the database's `now()`), with short leases.
 *
 * @since 0.2.0
 */
import { assert, layer } from "@effect/vitest"
import { CheckpointStore, type Errors, Position, Uuid } from "@eventline/core"
import { Duration, Effect, type Layer, Option } from "effect"

const unique = (prefix: string) => Effect.map(Uuid.makeV7, (id) => `${prefix}-${id}`)

/** Long enough never to expire during a test. */
const held = Duration.seconds(30)
/** Short enough to expire during a test. */
const brief = Duration.millis(300)
/** Comfortably past `brief`, also for a database clock that is a little apart from ours. */
const pastBrief = Duration.millis(700)

const assertLeaseLost = (
  effect: Effect.Effect<void, CheckpointStore.LeaseLost | Errors.InfrastructureError>,
  subscription: string
) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(effect)
    assert.strictEqual(error._tag, "LeaseLost")
    assert.strictEqual(error._tag === "LeaseLost" ? error.subscription : undefined, subscription)
  })

/**
 * @category suites
 * @since 0.2.0
 */
export const run = <E>(name: string, storeLayer: Layer.Layer<CheckpointStore.CheckpointStore, E>): void => {
  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(
    `CheckpointStore conformance: ${name}`,
    (it) => {
      it.effect("a new subscription has no checkpoint; acquiring it takes the lease and starts from `initial`", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("new")
          const initial = Position.make(12n, 34n)
          assert.deepStrictEqual(yield* store.get(subscription), Option.none())
          assert.deepStrictEqual(yield* store.acquire(subscription, "a", held, initial), Option.some(initial))
          assert.deepStrictEqual(yield* store.get(subscription), Option.some(initial))
        })
      )

      it.effect("while the lease is live another owner gets None; the owner itself acquires again", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("live")
          const saved = Position.make(7n, 8n)
          yield* store.acquire(subscription, "a", held, Position.start)
          assert.deepStrictEqual(yield* store.acquire(subscription, "b", held, Position.start), Option.none())
          yield* store.save(subscription, "a", saved)
          // the owner re-acquiring (a restart with the same identity) resumes from its checkpoint
          assert.deepStrictEqual(yield* store.acquire(subscription, "a", held, Position.start), Option.some(saved))
          assert.deepStrictEqual(yield* store.acquire(subscription, "b", held, Position.start), Option.none())
        })
      )

      it.effect("a released lease is free at once, and the next owner starts from the saved checkpoint", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("released")
          const saved = Position.make(40n, 41n)
          yield* store.acquire(subscription, "a", held, Position.start)
          yield* store.save(subscription, "a", saved)
          // only the owner can release
          yield* store.release(subscription, "b")
          assert.deepStrictEqual(yield* store.acquire(subscription, "c", held, Position.start), Option.none())
          yield* store.release(subscription, "a")
          assert.deepStrictEqual(
            yield* store.acquire(subscription, "b", held, Position.make(99n, 99n)),
            Option.some(saved),
            "the checkpoint, not the new owner's initial"
          )
          assert.deepStrictEqual(yield* store.acquire(subscription, "a", held, Position.start), Option.none())
        })
      )

      it.effect("an expired lease (not renewed) is taken over, and the former owner is fenced out", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("expired")
          const saved = Position.make(5n, 6n)
          yield* store.acquire(subscription, "a", brief, Position.start)
          yield* store.save(subscription, "a", saved)
          assert.deepStrictEqual(yield* store.acquire(subscription, "b", held, Position.start), Option.none())
          yield* Effect.sleep(pastBrief)
          assert.deepStrictEqual(yield* store.acquire(subscription, "b", held, Position.start), Option.some(saved))
          yield* assertLeaseLost(store.save(subscription, "a", Position.make(9n, 9n)), subscription)
          yield* assertLeaseLost(store.renew(subscription, "a", held), subscription)
          yield* assertLeaseLost(store.reset(subscription, "a"), subscription)
          assert.deepStrictEqual(yield* store.get(subscription), Option.some(saved))
        })
      )

      it.effect("renewing extends the lease past its first expiry", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("renewed")
          yield* store.acquire(subscription, "a", brief, Position.start)
          yield* store.renew(subscription, "a", held)
          yield* Effect.sleep(pastBrief)
          assert.deepStrictEqual(yield* store.acquire(subscription, "b", held, Position.start), Option.none())
          yield* store.save(subscription, "a", Position.make(1n, 2n))
        })
      )

      it.effect("renew by a non-owner fails with LeaseLost", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("renew")
          yield* assertLeaseLost(store.renew(subscription, "a", held), subscription)
          yield* store.acquire(subscription, "a", held, Position.start)
          yield* assertLeaseLost(store.renew(subscription, "b", held), subscription)
          yield* store.renew(subscription, "a", held)
          assert.deepStrictEqual(yield* store.acquire(subscription, "b", held, Position.start), Option.none())
        })
      )

      it.effect("save by a non-owner fails with LeaseLost and leaves the checkpoint; the owner's save moves it", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("save")
          const first = Position.make(3n, 4n)
          const second = Position.make(30n, 31n)
          yield* assertLeaseLost(store.save(subscription, "a", first), subscription)
          assert.deepStrictEqual(yield* store.get(subscription), Option.none(), "a failed save creates nothing")
          yield* store.acquire(subscription, "a", held, Position.start)
          yield* store.save(subscription, "a", first)
          assert.deepStrictEqual(yield* store.get(subscription), Option.some(first))
          yield* assertLeaseLost(store.save(subscription, "b", second), subscription)
          assert.deepStrictEqual(yield* store.get(subscription), Option.some(first))
          yield* store.save(subscription, "a", second)
          assert.deepStrictEqual(yield* store.get(subscription), Option.some(second))
        })
      )

      it.effect("reset by the owner goes back to the start of the log; by a non-owner it fails with LeaseLost", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("reset")
          const saved = Position.make(50n, 60n)
          yield* store.acquire(subscription, "a", held, Position.make(1n, 1n))
          yield* store.save(subscription, "a", saved)
          yield* assertLeaseLost(store.reset(subscription, "b"), subscription)
          assert.deepStrictEqual(yield* store.get(subscription), Option.some(saved))
          yield* store.reset(subscription, "a")
          assert.deepStrictEqual(yield* store.get(subscription), Option.some(Position.start))
          // the owner keeps its lease through a reset
          assert.deepStrictEqual(yield* store.acquire(subscription, "b", held, Position.start), Option.none())
        })
      )

      it.effect("of 10 owners acquiring a free subscription at once, exactly one gets the lease", () =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore.CheckpointStore
          const subscription = yield* unique("contended")
          const owners = Array.from({ length: 10 }, (_, index) => `owner-${index}`)
          const outcomes = yield* Effect.forEach(
            owners,
            (owner) => Effect.map(store.acquire(subscription, owner, held, Position.start), (got) => ({ owner, got })),
            { concurrency: "unbounded" }
          )
          const winners = outcomes.filter(({ got }) => Option.isSome(got))
          assert.strictEqual(winners.length, 1)
          const winner = (winners[0] as (typeof winners)[number]).owner
          // the winner is the one the fence lets through
          yield* Effect.forEach(
            owners.filter((owner) => owner !== winner),
            (owner) => assertLeaseLost(store.save(subscription, owner, Position.make(2n, 2n)), subscription)
          )
          yield* store.save(subscription, winner, Position.make(2n, 2n))
        })
      )
    }
  )
}
