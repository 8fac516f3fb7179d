import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { Uuid } from "../src/index.ts"

const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe("Uuid", () => {
  it.effect("makeV7: RFC 9562 version 7, its time from the Effect clock, in generation order", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      const ids = yield* Effect.replicateEffect(Uuid.makeV7, 1000)
      for (const id of ids) assert.match(id, v7)
      assert.strictEqual(new Set(ids).size, 1000)
      assert.deepStrictEqual([...ids].sort(), ids, "ids of one millisecond still sort in generation order")
      const millis = Number.parseInt((ids[0] ?? "").replace("-", "").slice(0, 12), 16)
      assert.strictEqual(millis, Date.UTC(2026, 0, 1))
    })
  )

  it("fromParts: the same parts always give the same version 8 id", () => {
    const id = Uuid.fromParts("command", 7, "a/b")
    assert.strictEqual(id, Uuid.fromParts("command", 7, "a/b"))
    assert.notStrictEqual(id, Uuid.fromParts("command", 7, "a", "b"))
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})
