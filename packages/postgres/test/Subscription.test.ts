import { assert, describe, layer } from "@effect/vitest"
import { type CommitSignal, type EventEnvelope, EventStore, ExpectedVersion, Position } from "@eventline/core"
import { TestEnvironment } from "@eventline/testing"
import { Duration, Effect, Exit, Layer, Option, Ref, Schedule, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { PgCommitSignal, PgEventStore, PgStore, Subscription } from "../src/index.ts"
import { freshDatabase } from "./utils.ts"

const databaseUrl = inject("databaseUrl")

const event = (type: string, data: EventEnvelope.NewEvent["data"] = {}): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
})

const fast = Schedule.exponential("5 millis").pipe(Schedule.upTo({ times: 2 }))

const Tally = Schema.Array(Schema.Struct({ stream_id: Schema.String, count: Schema.Int, last_version: Schema.Int }))
const Applied = Schema.Array(Schema.Struct({ event_id: Schema.String, times: Schema.Int }))

/** A small projection: per stream, how many events and the last version; per event, how often applied. */
const tallyTables = (prefix: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const tally = sql(`${prefix}_tally`)
    const applied = sql(`${prefix}_applied`)
    yield* sql`CREATE TABLE ${tally} (stream_id text PRIMARY KEY, count int NOT NULL, last_version int NOT NULL)`
    yield* sql`CREATE TABLE ${applied} (event_id text PRIMARY KEY, times int NOT NULL)`
    const apply = (recorded: EventEnvelope.RecordedEvent) =>
      Effect.gen(function* () {
        const rows = yield* sql`SELECT last_version FROM ${tally} WHERE stream_id = ${recorded.streamId}`
        const last = (rows[0] as { last_version: number } | undefined)?.last_version ?? 0
        if (recorded.version !== last + 1) {
          return yield* Effect.fail(new Error(`out of order: ${recorded.streamId}@${recorded.version} after ${last}`))
        }
        yield* sql`INSERT INTO ${tally} (stream_id, count, last_version) VALUES (${recorded.streamId}, 1, ${recorded.version})
          ON CONFLICT (stream_id) DO UPDATE SET count = ${tally}.count + 1, last_version = EXCLUDED.last_version`
        yield* sql`INSERT INTO ${applied} (event_id, times) VALUES (${recorded.eventId}, 1)
          ON CONFLICT (event_id) DO UPDATE SET times = ${applied}.times + 1`
      })
    const read = Effect.gen(function* () {
      const rows = yield* Schema.decodeUnknownEffect(Tally)(yield* sql`SELECT * FROM ${tally} ORDER BY stream_id`)
      const times = yield* Schema.decodeUnknownEffect(Applied)(yield* sql`SELECT * FROM ${applied}`)
      return {
        counts: Object.fromEntries(rows.map((row) => [row.stream_id, row.count])),
        appliedTwice: times.filter((row) => row.times > 1).map((row) => row.event_id),
        applied: times.length
      }
    })
    const clear = Effect.andThen(sql`TRUNCATE ${tally}`, sql`TRUNCATE ${applied}`)
    return { apply, read, clear }
  })

let tableCounter = 0
const freshTables = () => tallyTables(`t${process.pid}_${tableCounter++}`)

const appendMany = (streamType: string, streams: ReadonlyArray<string>, perStream: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    for (let i = 0; i < perStream; i++) {
      for (const stream of streams) {
        yield* store.append(stream, ExpectedVersion.Any, [event("Counted", { i })], { streamType })
      }
    }
  })

/** Run `f` with a subscription whose scope we close ourselves (a runner we can stop). */
const withRunner = <A, E, R, HE, HR>(
  options: Subscription.Options<HE, HR>,
  f: (handle: Subscription.Handle) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const handle = yield* Subscription.start(options).pipe(Scope.provide(scope))
    const result = yield* f(handle).pipe(Effect.onExit(() => Scope.close(scope, Exit.void)))
    return result
  })

const suite = (
  backend: string,
  storeLayer: Layer.Layer<EventStore.EventStore | CommitSignal.CommitSignal | SqlClient.SqlClient, unknown>
) =>
  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(`Subscription on ${backend}`, (it) => {
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
              assert.deepStrictEqual((yield* read).counts, { [`${type}-a`]: 10, [`${type}-b`]: 10, [`${type}-c`]: 10 })
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
          const sql = yield* SqlClient.SqlClient
          const idle = `lag-idle-${type}`
          yield* sql`INSERT INTO eventline.checkpoints (subscription_id, transaction_id, global_position, owner, lease_expires_at)
            VALUES (${idle}, '0'::xid8, 0, 'elsewhere', now() + interval '1 hour')`
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
            leaseTtl: Duration.millis(600)
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
      "a runner that crashed without releasing is replaced once its lease expires; a runner that lost its lease cannot commit",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const { apply, read } = yield* freshTables()
          const type = `Lease${tableCounter}`
          const name = `lease-${type}`
          // a dead owner whose lease runs for another second
          yield* sql`INSERT INTO eventline.checkpoints (subscription_id, transaction_id, global_position, owner, lease_expires_at)
            VALUES (${name}, '0'::xid8, 0, 'crashed-runner', now() + interval '1 second')`
          yield* appendMany(type, [`${type}-a`], 3)
          yield* withRunner({ name, streamTypes: [type], handle: apply, leaseTtl: Duration.millis(400) }, (runner) =>
            Effect.gen(function* () {
              assert.isFalse(yield* runner.isActive)
              yield* runner.caughtUp.pipe(Effect.timeout("10 seconds"))
              assert.deepStrictEqual((yield* read).counts, { [`${type}-a`]: 3 })

              // another process steals the lease: this runner's next commit is refused (fenced)
              yield* sql`UPDATE eventline.checkpoints SET owner = 'thief', lease_expires_at = now() + interval '1 hour'
                WHERE subscription_id = ${name}`
              yield* appendMany(type, [`${type}-a`], 2)
              yield* runner.isActive.pipe(
                Effect.repeat({ until: (active) => !active, schedule: Schedule.spaced("20 millis") }),
                Effect.timeout("10 seconds")
              )
              assert.deepStrictEqual((yield* read).counts, { [`${type}-a`]: 3 }, "nothing committed without the lease")
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

suite("PGlite (embedded)", PgStore.layerEmbedded())

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))("on PostgreSQL", () => {
  suite(
    "PostgreSQL",
    Layer.mergeAll(PgEventStore.layer, PgCommitSignal.layer).pipe(Layer.provideMerge(freshDatabase(databaseUrl ?? "")))
  )
})
