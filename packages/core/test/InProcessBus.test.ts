/**
 * The in-process bus against the `EventBus` conformance suite, plus what only it has
 * (inspection, retention).
 */
import { assert, describe, it } from "@effect/vitest"
import { InProcessBus } from "@eventline/core"
import { EventBusConformance } from "@eventline/testing"
import { Effect, Option } from "effect"

const { envelope } = EventBusConformance

EventBusConformance.run("in-process", InProcessBus.layer())

describe("InProcessBus", () => {
  it.effect("keeps the last maxRecordsPerTopic records; a group behind them continues from the oldest kept", () =>
    Effect.gen(function* () {
      const bus = yield* InProcessBus.make({ maxRecordsPerTopic: 2 })
      yield* bus.publish("t", [envelope("a", 1), envelope("a", 2), envelope("a", 3)])
      const records = yield* bus.records("t")
      assert.deepStrictEqual(
        records.map(({ offset, event }) => [offset, event.version]),
        [
          [1, 2],
          [2, 3]
        ]
      )
      assert.isTrue(Option.isNone(yield* bus.committed("g", "t")))
    })
  )

  it.effect("trims in steps of an eighth of the limit, always keeping the newest records", () =>
    Effect.gen(function* () {
      const bus = yield* InProcessBus.make({ maxRecordsPerTopic: 16 })
      const publishUpTo = (version: number) => bus.publish("t", [envelope("a", version)])
      for (let version = 1; version <= 18; version++) yield* publishUpTo(version)
      assert.strictEqual((yield* bus.records("t")).length, 18, "two over the limit: not trimmed yet")
      yield* publishUpTo(19)
      const kept = yield* bus.records("t")
      assert.deepStrictEqual(
        kept.map(({ event }) => event.version),
        Array.from({ length: 16 }, (_, index) => index + 4),
        "three over: trimmed to the newest 16"
      )
    })
  )

  it.effect("rejects an event that does not satisfy the envelope schema", () =>
    Effect.gen(function* () {
      const bus = yield* InProcessBus.make()
      const error = yield* Effect.flip(bus.publish("t", [{ ...envelope("a", 1), version: 0 }]))
      assert.strictEqual(error._tag, "InvalidEvent")
      assert.deepStrictEqual(yield* bus.records("t"), [])
    })
  )
})
