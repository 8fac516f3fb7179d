/**
 * The store-backed bus against the `EventBus` conformance suite, on PGlite and on PostgreSQL,
 * plus what only a durable bus has: a consumer resumes from its committed offset with a new bus
 * over the same database (a restart), one member per group across bus instances, retention.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { EventBus } from "@eventline/core"
import { EventBusConformance } from "@eventline/testing"
import { Context, Effect, Exit, Layer, ManagedRuntime, Option, Queue, Redacted, References, Scope } from "effect"
import type { SqlClient } from "effect/sql"
import { afterAll } from "vitest"
import { PgEventBus, PgStore } from "../src/index.ts"
import { databaseUrl, postgresAvailable, throwawayDatabase } from "./utils.ts"

const { envelope, unique } = EventBusConformance
const Quiet = Layer.succeed(References.MinimumLogLevel, "Error")

/** One database per file, shared by every test (each works in topics and groups of its own). */
const shared = (database: Layer.Layer<SqlClient.SqlClient, unknown>) => {
  const runtime = ManagedRuntime.make(database)
  afterAll(() => runtime.dispose())
  return Layer.unwrap(Effect.map(Effect.promise(runtime.context), (context) => Layer.succeedContext(context)))
}

const suite = (name: string, database: Layer.Layer<SqlClient.SqlClient, unknown>) => {
  const sql = shared(database)
  const busLayer = (options?: PgEventBus.Options) =>
    PgEventBus.layer({ pollInterval: "100 millis", leaseTtl: "2 seconds", ...options }).pipe(Layer.provide(sql))
  EventBusConformance.run(name, busLayer())

  /** A new bus over the same database: what a restarted process gets. */
  const freshBus = (options?: PgEventBus.Options) =>
    Effect.map(Layer.build(busLayer(options)), (context) => Context.get(context, PgEventBus.PgEventBus))

  describe(`PgEventBus on ${name}`, () => {
    it.live(
      "a consumer of a new bus over the same database resumes after its last commit; a crash redelivers only what was not committed",
      () =>
        Effect.gen(function* () {
          const topic = unique("restart")
          const groupId = unique("restart")
          const events = Array.from({ length: 5 }, (_, index) => envelope("r", index + 1))
          const first = yield* freshBus()
          yield* first.publish(topic, events.slice(0, 3))

          const received = yield* Queue.unbounded<number>()
          const runFor = (bus: PgEventBus.PgEventBus["Service"]) =>
            Effect.gen(function* () {
              const scope = yield* Scope.make()
              const runner = yield* bus
                .run([topic], groupId, (event) => Queue.offer(received, event.version))
                .pipe(Scope.provide(scope))
              yield* runner.ready.pipe(Effect.timeout("15 seconds"))
              return scope
            })
          const one = yield* runFor(first)
          assert.deepStrictEqual(yield* Queue.takeN(received, 3).pipe(Effect.timeout("15 seconds")), [1, 2, 3])
          yield* Scope.close(one, Exit.void)
          assert.deepStrictEqual(yield* first.committed(groupId, topic), Option.some(3))

          // another bus (another process) publishes while nobody consumes, and a new one consumes
          const second = yield* freshBus()
          yield* second.publish(topic, events.slice(3))
          assert.strictEqual(yield* second.lag(groupId, topic), 2)
          const third = yield* freshBus()
          const two = yield* runFor(third)
          assert.deepStrictEqual(yield* Queue.takeN(received, 2).pipe(Effect.timeout("15 seconds")), [4, 5])
          yield* Scope.close(two, Exit.void)
          assert.strictEqual(yield* third.lag(groupId, topic), 0)
          assert.strictEqual(yield* Queue.size(received), 0)
        }).pipe(Effect.scoped, Effect.provide(Quiet)),
      60_000
    )

    it.live("one active member per group and topic across bus instances; the other takes over when it leaves", () =>
      Effect.gen(function* () {
        const topic = unique("members")
        const groupId = unique("members")
        const [a, b] = [yield* freshBus(), yield* freshBus()]
        const firstScope = yield* Scope.make()
        const seenByA = yield* Queue.unbounded<number>()
        const seenByB = yield* Queue.unbounded<number>()
        const runnerA = yield* a
          .run([topic], groupId, (event) => Queue.offer(seenByA, event.version))
          .pipe(Scope.provide(firstScope))
        yield* runnerA.ready.pipe(Effect.timeout("15 seconds"))
        const runnerB = yield* b.run([topic], groupId, (event) => Queue.offer(seenByB, event.version))
        yield* a.publish(topic, [envelope("m", 1)])
        assert.deepStrictEqual(yield* Queue.takeN(seenByA, 1).pipe(Effect.timeout("15 seconds")), [1])
        yield* Scope.close(firstScope, Exit.void)
        yield* runnerB.ready.pipe(Effect.timeout("15 seconds"))
        yield* b.publish(topic, [envelope("m", 2)])
        assert.deepStrictEqual(yield* Queue.takeN(seenByB, 1).pipe(Effect.timeout("15 seconds")), [2])
        assert.strictEqual(yield* Queue.size(seenByA), 0)
      }).pipe(Effect.scoped, Effect.provide(Quiet))
    )

    it.live("fromBeginning false: a new group reads only what is published after it joined", () =>
      Effect.gen(function* () {
        const topic = unique("latest")
        const bus = yield* freshBus()
        yield* bus.publish(topic, [envelope("l", 1), envelope("l", 2)])
        const received = yield* Queue.unbounded<number>()
        const runner = yield* bus.run([topic], unique("latest"), (event) => Queue.offer(received, event.version), {
          fromBeginning: false
        })
        yield* runner.ready.pipe(Effect.timeout("15 seconds"))
        yield* bus.publish(topic, [envelope("l", 3)])
        assert.strictEqual(yield* Queue.take(received).pipe(Effect.timeout("15 seconds")), 3)
      }).pipe(Effect.scoped, Effect.provide(Quiet))
    )

    it.live("keeps the last maxRecordsPerTopic records; a group behind them continues from the oldest kept", () =>
      Effect.gen(function* () {
        const topic = unique("retention")
        const bus = yield* freshBus({ maxRecordsPerTopic: 8 })
        for (let version = 1; version <= 12; version++) yield* bus.publish(topic, [envelope("t", version)])
        const received = yield* Queue.unbounded<number>()
        yield* bus.run([topic], unique("late"), (event) => Queue.offer(received, event.version))
        const first = yield* Queue.take(received).pipe(Effect.timeout("15 seconds"))
        assert.isAtLeast(first, 2, "trimmed")
        assert.isAtMost(first, 5, "at least the last 8 kept")
        const rest = yield* Queue.takeN(received, 12 - first).pipe(Effect.timeout("15 seconds"))
        assert.deepStrictEqual(rest.at(-1), 12)
      }).pipe(Effect.scoped, Effect.provide(Quiet))
    )

    it.live("rejects an event that does not satisfy the envelope schema, publishing nothing", () =>
      Effect.gen(function* () {
        const topic = unique("invalid")
        const bus = yield* freshBus()
        const error = yield* Effect.flip(bus.publish(topic, [envelope("a", 1), { ...envelope("a", 2), version: 0 }]))
        assert.strictEqual(error._tag, "InvalidEvent")
        assert.strictEqual(yield* bus.lag(unique("nobody"), topic), 0)
        const contract = yield* EventBus.EventBus.pipe(Effect.provide(busLayer()))
        assert.isFunction(contract.publish)
      }).pipe(Effect.scoped, Effect.provide(Quiet))
    )
  })
}

suite("PGlite", PgStore.layerEmbedded())

describe.runIf(postgresAvailable())("PostgreSQL", () => {
  const database = Layer.unwrap(
    Effect.map(throwawayDatabase(databaseUrl ?? "", "h1_bus"), (url) => PgClient.layer({ url: Redacted.make(url) }))
  )
  suite("PostgreSQL", database)
})
