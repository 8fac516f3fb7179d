/**
 * The Subscription conformance suite: the subscription engine of @eventline/core on a store's
 * ports (EventStore, CheckpointStore, DeadLetterStore, UnitOfWork, CommitSignal), run against
 * the in-memory layers, PGlite and PostgreSQL alike.
 *
 * The projection under test ("tally": per stream how many events and the last version, per
 * event how often applied) is given by the backend: in memory by default, SQL tables on SQL
 * stores, so that its writes join the unit of work there.
 *
 * @since 0.2.0
 */
import { assert, layer } from "@effect/vitest"
import {
  CheckpointStore,
  type CommitSignal,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  Position,
  Subscription
} from "@eventline/core"
import { Duration, Effect, Exit, Layer, Option, Ref, References, Schedule, Scope } from "effect"

/**
 * A small projection: per stream, how many events and the last version; per event, how often
 * applied. `apply` fails on an event out of order.
 *
 * @category models
 * @since 0.2.0
 */
export interface Tally {
  readonly apply: (event: EventEnvelope.RecordedEvent) => Effect.Effect<void, unknown>
  readonly read: Effect.Effect<
    {
      readonly counts: Readonly<Record<string, number>>
      readonly appliedTwice: ReadonlyArray<string>
      readonly applied: number
    },
    unknown
  >
  readonly clear: Effect.Effect<void, unknown>
}

/**
 * The tally in memory (not part of any unit of work).
 *
 * @category constructors
 * @since 0.2.0
 */
export const memoryTally = (_prefix: string): Effect.Effect<Tally> =>
  Effect.gen(function* () {
    const state = yield* Ref.make({
      tally: new Map<string, { readonly count: number; readonly last: number }>(),
      applied: new Map<string, number>()
    })
    const apply = (recorded: EventEnvelope.RecordedEvent) =>
      Effect.gen(function* () {
        const { tally } = yield* Ref.get(state)
        const last = tally.get(recorded.streamId)?.last ?? 0
        if (recorded.version !== last + 1) {
          return yield* Effect.fail(new Error(`out of order: ${recorded.streamId}@${recorded.version} after ${last}`))
        }
        yield* Ref.update(state, ({ applied, tally }) => ({
          tally: new Map(tally).set(recorded.streamId, {
            count: (tally.get(recorded.streamId)?.count ?? 0) + 1,
            last: recorded.version
          }),
          applied: new Map(applied).set(recorded.eventId, (applied.get(recorded.eventId) ?? 0) + 1)
        }))
      })
    const read = Effect.map(Ref.get(state), ({ applied, tally }) => ({
      counts: Object.fromEntries([...tally].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, row]) => [id, row.count])),
      appliedTwice: [...applied].filter(([, times]) => times > 1).map(([id]) => id),
      applied: applied.size
    }))
    const clear = Ref.set(state, { tally: new Map(), applied: new Map() })
    return { apply, read, clear }
  })

/**
 * @category models
 * @since 0.2.0
 */
export interface Options<R> {
  /** The projection the tests run; default `memoryTally`. */
  readonly tally?: ((prefix: string) => Effect.Effect<Tally, unknown, R>) | undefined
}

const event = (type: string, data: EventEnvelope.NewEvent["data"] = {}): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

const fast = Schedule.exponential("5 millis").pipe(Schedule.upTo({ times: 2 }))

let tableCounter = 0

const appendMany = (streamType: string, streams: ReadonlyArray<string>, perStream: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    for (let i = 0; i < perStream; i++) {
      for (const stream of streams) {
        yield* store.append(stream, ExpectedVersion.Any, [event("Counted", { i })], { streamType })
      }
    }
  })

/**
 * Run `f` with a subscription whose scope we close ourselves (a runner we can stop).
 *
 * @category helpers
 * @since 0.2.0
 */
export const withRunner = <A, E, R, HE, HR>(
  options: Subscription.Options<HE, HR>,
  f: (handle: Subscription.Handle) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const handle = yield* Subscription.start(options).pipe(Scope.provide(scope))
    return yield* f(handle).pipe(Effect.onExit(() => Scope.close(scope, Exit.void)))
  })

/**
 * @category suites
 * @since 0.2.0
 */
export const run = <E, R>(
  name: string,
  storeLayer: Layer.Layer<Subscription.Services | CommitSignal.CommitSignal | R, E>,
  options: Options<R> = {}
): void => {
  const freshTables = () => (options.tally ?? memoryTally)(`t${process.pid}_${tableCounter++}`)
  // dead-lettering warns by design, and these tests dead-letter on purpose: keep only errors
  const quiet = storeLayer.pipe(Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error")))
  layer(quiet, { excludeTestServices: true, timeout: "120 seconds" })(`Subscription conformance: ${name}`, (it) => {
    it.effect(
      "catches up, then follows live appends woken by commits; exactly once",
      () =>
        Effect.gen(function* () {
          const { apply, read } = yield* freshTables()
          const type = `Live${tableCounter}`
          yield* appendMany(
            type,
            ["a", "b", "c"].map((s) => `${type}-${s}`),
            10
          )
          yield* withRunner({ name: `live-${type}`, streamTypes: [type], handle: apply, batchSize: 7 }, (handle) =>
            Effect.gen(function* () {
              yield* handle.caughtUp
              assert.deepStrictEqual((yield* read).counts, {
                [`${type}-a`]: 10,
                [`${type}-b`]: 10,
                [`${type}-c`]: 10
              })
              yield* appendMany(type, [`${type}-a`, `${type}-d`], 5)
              yield* handle.caughtUp
              const after = yield* read
              assert.deepStrictEqual(after.counts, {
                [`${type}-a`]: 15,
                [`${type}-b`]: 10,
                [`${type}-c`]: 10,
                [`${type}-d`]: 5
              })
              assert.deepStrictEqual(after.appliedTwice, [])
              assert.deepStrictEqual(yield* handle.lag, { events: 0, millis: 0 })
            })
          )
        }),
      60_000
    )

    it.effect(
      "a restart resumes from the checkpoint without applying anything twice; startFrom end skips history",
      () =>
        Effect.gen(function* () {
          const { apply, read } = yield* freshTables()
          const type = `Restart${tableCounter}`
          const options = { name: `restart-${type}`, streamTypes: [type], handle: apply }
          yield* appendMany(type, [`${type}-a`], 5)
          yield* withRunner(options, (handle) => handle.caughtUp)
          yield* appendMany(type, [`${type}-a`], 5)
          const lag = yield* withRunner(options, (handle) => Effect.andThen(handle.caughtUp, handle.lag))
          assert.strictEqual(lag.events, 0)
          const result = yield* read
          assert.deepStrictEqual(result.counts, { [`${type}-a`]: 10 })
          assert.deepStrictEqual(result.appliedTwice, [])

          const fromEnd = yield* freshTables()
          yield* withRunner(
            { name: `end-${type}`, streamTypes: [type], handle: fromEnd.apply, startFrom: "end" },
            (handle) =>
              Effect.gen(function* () {
                yield* handle.caughtUp
                assert.deepStrictEqual((yield* fromEnd.read).counts, {})
                yield* appendMany(type, [`${type}-z`], 2)
                yield* handle.caughtUp
                assert.deepStrictEqual((yield* fromEnd.read).counts, { [`${type}-z`]: 2 })
              })
          )
        }),
      60_000
    )

    it.effect(
      "lag counts the events behind; filters by event type",
      () =>
        Effect.gen(function* () {
          const { apply, read } = yield* freshTables()
          const type = `Lag${tableCounter}`
          const store = yield* EventStore.EventStore
          yield* store.append(`${type}-x`, ExpectedVersion.Any, [event("Wanted"), event("Unwanted"), event("Wanted")], {
            streamType: type
          })
          const seen = yield* Ref.make<ReadonlyArray<number>>([])
          yield* withRunner(
            {
              name: `lag-${type}`,
              streamTypes: [type],
              eventTypes: ["Wanted"],
              handle: (recorded: EventEnvelope.RecordedEvent) =>
                Effect.andThen(
                  Ref.update(seen, (all) => [...all, recorded.version]),
                  Effect.void
                )
            },
            (handle) =>
              Effect.gen(function* () {
                yield* handle.caughtUp
                assert.deepStrictEqual(yield* Ref.get(seen), [1, 3])
              })
          )
          // a runner that stands by (another holds the lease) shows how far the subscription is behind
          const checkpoints = yield* CheckpointStore.CheckpointStore
          const idle = `lag-idle-${type}`
          yield* checkpoints.acquire(idle, "elsewhere", Duration.hours(1), Position.start)
          const behind = yield* withRunner({ name: idle, streamTypes: [type], handle: apply }, (handle) => handle.lag)
          assert.strictEqual(behind.events, 3)
          assert.isAbove(behind.millis, 0)
          assert.deepStrictEqual((yield* read).counts, {}, "the standby applied nothing")
        }),
      60_000
    )

    it.effect(
      "a failing stream is dead-lettered and its later events park behind it; others flow; redrive delivers in order",
      () =>
        Effect.gen(function* () {
          const { apply, read } = yield* freshTables()
          const type = `Dead${tableCounter}`
          const broken = yield* Ref.make(true)
          const handle = (recorded: EventEnvelope.RecordedEvent) =>
            Effect.gen(function* () {
              if ((yield* Ref.get(broken)) && recorded.streamId === `${type}-bad` && recorded.version === 2) {
                return yield* Effect.fail(new Error("poisoned"))
              }
              yield* apply(recorded)
            })
          yield* appendMany(type, [`${type}-bad`, `${type}-good`], 4)
          yield* withRunner({ name: `dead-${type}`, streamTypes: [type], handle, retry: fast }, (runner) =>
            Effect.gen(function* () {
              yield* runner.caughtUp
              assert.deepStrictEqual((yield* read).counts, { [`${type}-bad`]: 1, [`${type}-good`]: 4 })
              const parked = yield* runner.deadLetters("parked")
              assert.deepStrictEqual(
                parked.map((letter) => letter.streamId),
                [`${type}-bad`, `${type}-bad`, `${type}-bad`]
              )
              const [first, ...waiting] = parked
              assert.include(first?.error ?? "", "poisoned")
              assert.strictEqual(first?.attempts, 3, "one try and two retries")
              assert.isTrue(waiting.every((letter) => letter.attempts === 0 && letter.error.includes("waiting behind")))

              // more events for the parked stream park too; the good stream keeps flowing
              yield* appendMany(type, [`${type}-bad`, `${type}-good`], 1)
              yield* runner.caughtUp
              assert.deepStrictEqual((yield* read).counts, { [`${type}-bad`]: 1, [`${type}-good`]: 5 })
              assert.strictEqual((yield* runner.deadLetters("parked")).length, 4)

              // redrive while still broken: nothing moves, nothing is lost
              yield* runner.redrive(`${type}-bad`)
              assert.strictEqual((yield* runner.deadLetters("parked")).length, 4)

              yield* Ref.set(broken, false)
              yield* runner.redrive(`${type}-bad`)
              assert.deepStrictEqual((yield* read).counts, { [`${type}-bad`]: 5, [`${type}-good`]: 5 })
              assert.deepStrictEqual(yield* runner.deadLetters("parked"), [])
              assert.strictEqual((yield* runner.deadLetters("redriven")).length, 4)

              // and the stream flows again
              yield* appendMany(type, [`${type}-bad`], 1)
              yield* runner.caughtUp
              assert.deepStrictEqual((yield* read).counts, { [`${type}-bad`]: 6, [`${type}-good`]: 5 })
              assert.deepStrictEqual((yield* read).appliedTwice, [])
            })
          )
        }),
      60_000
    )

    it.effect(
      "skip gives up one parked event, recorded; the rest of its stream is redriven after it",
      () =>
        Effect.gen(function* () {
          const { apply, read } = yield* freshTables()
          const type = `Skip${tableCounter}`
          const handle = (recorded: EventEnvelope.RecordedEvent) =>
            recorded.version === 1 && recorded.streamId === `${type}-s`
              ? Effect.fail(new Error("never works"))
              : apply(recorded)
          yield* appendMany(type, [`${type}-s`], 3)
          yield* withRunner({ name: `skip-${type}`, streamTypes: [type], handle, retry: fast }, (runner) =>
            Effect.gen(function* () {
              yield* runner.caughtUp
              const [head] = yield* runner.deadLetters("parked")
              yield* runner.skip(head?.eventId ?? "")
              yield* runner.redrive()
              const skipped = yield* runner.deadLetters("skipped")
              assert.deepStrictEqual(
                skipped.map((letter) => letter.eventId),
                [head?.eventId]
              )
              // the tally demands contiguous versions, so after a skipped v1 the stream cannot apply v2:
              // it stays parked, visibly, instead of being silently dropped
              assert.strictEqual((yield* runner.deadLetters("parked")).length, 2)
              assert.deepStrictEqual((yield* read).counts, {})
            })
          )
        }),
      60_000
    )

    it.effect(
      "failover: a standby takes over when the active runner stops, with no loss and no double apply",
      () =>
        Effect.gen(function* () {
          const { apply, read } = yield* freshTables()
          const type = `Failover${tableCounter}`
          const options = {
            name: `failover-${type}`,
            streamTypes: [type],
            handle: apply,
            // long enough that a stalled test runner does not hand the lease over before the
            // "one active runner" checks; the release at stop makes the takeover prompt anyway
            leaseTtl: Duration.seconds(4)
          }
          yield* appendMany(type, [`${type}-a`, `${type}-b`], 10)
          const scopeA = yield* Scope.make()
          const a = yield* Subscription.start(options).pipe(Scope.provide(scopeA))
          yield* a.caughtUp
          yield* withRunner(options, (b) =>
            Effect.gen(function* () {
              assert.isTrue(yield* a.isActive)
              assert.isFalse(yield* b.isActive, "one active runner per subscription")
              yield* appendMany(type, [`${type}-a`, `${type}-b`], 5)
              yield* Scope.close(scopeA, Exit.void)
              assert.isFalse(yield* a.isActive)
              yield* b.isActive.pipe(
                Effect.repeat({ until: (active) => active, schedule: Schedule.spaced("20 millis") }),
                Effect.timeout("10 seconds")
              )
              yield* appendMany(type, [`${type}-a`], 5)
              yield* b.caughtUp
              const result = yield* read
              assert.deepStrictEqual(result.counts, { [`${type}-a`]: 20, [`${type}-b`]: 15 })
              assert.deepStrictEqual(result.appliedTwice, [])
              assert.strictEqual(result.applied, 35)
            })
          )
        }),
      60_000
    )

    it.effect(
      "a runner that crashed without releasing is replaced once its lease expires",
      () =>
        Effect.gen(function* () {
          const checkpoints = yield* CheckpointStore.CheckpointStore
          const { apply, read } = yield* freshTables()
          const type = `Lease${tableCounter}`
          const name = `lease-${type}`
          // a dead owner whose lease runs for another 4 seconds (a margin for a stalled runner
          // before the first check)
          yield* checkpoints.acquire(name, "crashed-runner", Duration.seconds(4), Position.start)
          yield* appendMany(type, [`${type}-a`], 3)
          yield* withRunner({ name, streamTypes: [type], handle: apply, leaseTtl: Duration.seconds(1) }, (runner) =>
            Effect.gen(function* () {
              assert.isFalse(yield* runner.isActive)
              yield* runner.caughtUp.pipe(Effect.timeout("10 seconds"))
              assert.isTrue(yield* runner.isActive)
              assert.deepStrictEqual((yield* read).counts, { [`${type}-a`]: 3 })
            })
          )
        }),
      60_000
    )

    it.effect(
      "reset rebuilds: the handler's state and the checkpoint are cleared and the log is replayed",
      () =>
        Effect.gen(function* () {
          const { apply, read, clear } = yield* freshTables()
          const type = `Reset${tableCounter}`
          yield* appendMany(type, [`${type}-a`, `${type}-b`], 4)
          yield* withRunner({ name: `reset-${type}`, streamTypes: [type], handle: apply, onReset: clear }, (runner) =>
            Effect.gen(function* () {
              yield* runner.caughtUp
              const before = yield* read
              yield* runner.reset
              yield* runner.caughtUp
              const after = yield* read
              assert.deepStrictEqual(after.counts, before.counts)
              assert.deepStrictEqual(after.appliedTwice, [])
              const checkpoint = yield* runner.checkpoint
              assert.isTrue(Option.isSome(checkpoint) && Position.compare(checkpoint.value, Position.start) > 0)
            })
          )
        }),
      60_000
    )

    it.effect(
      "parallel streams (concurrency 4) keep each stream in order",
      () =>
        Effect.gen(function* () {
          const { apply, read } = yield* freshTables()
          const type = `Parallel${tableCounter}`
          const streams = Array.from({ length: 8 }, (_, i) => `${type}-${i}`)
          yield* appendMany(type, streams, 6)
          yield* withRunner(
            { name: `parallel-${type}`, streamTypes: [type], handle: apply, concurrency: 4, transactional: false },
            (runner) =>
              Effect.gen(function* () {
                yield* runner.caughtUp
                assert.deepStrictEqual(yield* runner.deadLetters(), [], "no event arrived out of order")
                const result = yield* read
                assert.deepStrictEqual(result.counts, Object.fromEntries(streams.map((s) => [s, 6])))
              })
          )
        }),
      60_000
    )
  })
}
