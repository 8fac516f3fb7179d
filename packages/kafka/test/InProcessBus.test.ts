/**
 * The in-process bus against the `EventBus` contract, plus what only it has (inspection,
 * retention).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { InProcessBus } from "../src/index.ts"
import { eventBusContract } from "./EventBusContract.ts"
import { envelope, unique } from "./utils.ts"

describe("InProcessBus", () => {
  describe("EventBus contract", () => {
    eventBusContract({ layer: InProcessBus.layer(), topic: (prefix) => Effect.succeed(unique(prefix)) })
  })

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

  it.effect("rejects an event that does not satisfy the envelope schema", () =>
    Effect.gen(function* () {
      const bus = yield* InProcessBus.make()
      const error = yield* Effect.flip(bus.publish("t", [{ ...envelope("a", 1), version: 0 }]))
      assert.strictEqual(error._tag, "InvalidEvent")
      assert.deepStrictEqual(yield* bus.records("t"), [])
    })
  )
})
