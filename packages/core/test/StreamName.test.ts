import { assert, describe, it } from "@effect/vitest"
import { Aggregate, ProcessManager, StreamName } from "@eventline/core"
import { Option, Schema } from "effect"

describe("StreamName", () => {
  it("make and parse are inverse, whatever the id contains (the first '-' splits)", () => {
    for (const id of ["42", "Fulfilment-42", "a-b-c", "-", "", "注文 😀"]) {
      const streamId = StreamName.make("Order", id)
      assert.deepStrictEqual(StreamName.parse(streamId), Option.some({ category: "Order", id }))
      assert.deepStrictEqual(StreamName.idOf("Order", streamId), Option.some(id))
      assert.deepStrictEqual(StreamName.categoryOf(streamId), Option.some("Order"))
      assert.isTrue(StreamName.isIn("Order", streamId))
      assert.isFalse(StreamName.isIn("Fulfilment", streamId))
    }
  })

  it("a stream id without a category parses to none; another category's id is none", () => {
    assert.isTrue(Option.isNone(StreamName.parse("nodash")))
    assert.isTrue(Option.isNone(StreamName.parse("-leading")))
    assert.isTrue(Option.isNone(StreamName.idOf("Order", "Fulfilment-42")))
    assert.isTrue(Option.isNone(StreamName.idOf("Order", "Orderly-42")))
  })

  it("a category is letters, digits and '_', a letter first, never '-'", () => {
    const isCategory = Schema.is(StreamName.Category)
    for (const good of ["Order", "order_line", "V2"]) assert.isTrue(isCategory(good), good)
    for (const bad of ["", "Order-x", "2Order", "Or der", "x".repeat(51)]) assert.isFalse(isCategory(bad), bad)
  })

  it("an aggregate or process manager with an invalid category is refused when it is made", () => {
    assert.throws(
      () =>
        Aggregate.make({
          streamType: "Counter",
          category: "Count-er",
          decider: { initialState: 0, decide: () => ({ _tag: "Success", success: [] }) as never, evolve: (s) => s },
          commands: Schema.TaggedUnion({ Touch: {} }),
          events: Schema.TaggedUnion({ Touched: {} }),
          schemaVersion: 1,
          streamId: () => "c"
        }),
      /category 'Count-er'/
    )
    assert.throws(
      () =>
        ProcessManager.make({
          name: "Saga",
          category: "Sa ga",
          streamTypes: [],
          inputs: Schema.TaggedUnion({ Tick: {} }),
          correlate: () => Option.none(),
          onRejected: () => Option.none(),
          initialState: 0,
          evolve: (s) => s,
          react: () => ProcessManager.nothing
        }),
      /category 'Sa ga'/
    )
    const saga = ProcessManager.make({
      name: "Saga",
      streamTypes: [],
      inputs: Schema.TaggedUnion({ Tick: {} }),
      correlate: () => Option.none(),
      onRejected: () => Option.none(),
      initialState: 0,
      evolve: (s) => s,
      react: () => ProcessManager.nothing
    })
    assert.strictEqual(ProcessManager.streamIdOf(saga, "k-1"), "Saga-k-1")
    assert.strictEqual(ProcessManager.streamIdOf({ ...saga, category: "Other" }, "k-1"), "Other-k-1")
  })
})
