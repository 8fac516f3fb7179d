import { assert, describe, it } from "@effect/vitest"
import { CommandBus, EventEnvelope, EventStore, InMemoryEventStore, StreamName } from "@eventline/core"
import { Effect, Layer, Result, Schema } from "effect"
import { OrderAggregate, OrderCommand } from "../src/index.ts"

const decode = Schema.decodeUnknownResult(OrderCommand.OrderCommand)

const accepts = (input: unknown): void => {
  const result = decode(input)
  if (Result.isFailure(result)) assert.fail(`expected ${JSON.stringify(input)} to decode: ${result.failure.message}`)
}

/** The input fails with exactly this message at this path. */
const rejects = (input: unknown, path: string, message: string): void => {
  const result = decode(input)
  if (Result.isSuccess(result)) assert.fail(`expected a failure at ${path}, but the command decoded`)
  assert.strictEqual(result.failure.message, `${message}\n  at ${path}`)
}

const item = { productId: "p-1", quantity: 1, price: 0 }
const create = (fields: Record<string, unknown>) => ({
  _tag: "CreateOrder",
  orderId: "o-1",
  customerId: "c-1",
  items: [item],
  ...fields
})
const withItem = (fields: Record<string, unknown>) => create({ items: [item, { ...item, ...fields }] })
const cancel = (reason: unknown) => ({ _tag: "CancelOrder", orderId: "o-1", reason })

describe("OrderCommand", () => {
  describe("items", () => {
    it("accepts 1 to 100 items", () => {
      accepts(create({ items: [item] }))
      accepts(create({ items: Array.from({ length: 100 }, () => item) }))
    })

    it("rejects 0 items and 101 items", () => {
      rejects(create({ items: [] }), `["items"]`, "an order must have from 1 to 100 items")
      rejects(
        create({ items: Array.from({ length: 101 }, () => item) }),
        `["items"]`,
        "an order must have from 1 to 100 items"
      )
    })

    it("rejects a missing item list", () => {
      rejects({ _tag: "CreateOrder", orderId: "o-1", customerId: "c-1" }, `["items"]`, "Missing key")
    })
  })

  describe("quantity", () => {
    it("accepts an integer from 1 to 10000", () => {
      accepts(withItem({ quantity: 1 }))
      accepts(withItem({ quantity: 10_000 }))
    })

    it("rejects 0, 10001 and fractions", () => {
      rejects(withItem({ quantity: 0 }), `["items"][1]["quantity"]`, "a quantity must be from 1 to 10000")
      rejects(withItem({ quantity: 10_001 }), `["items"][1]["quantity"]`, "a quantity must be from 1 to 10000")
      rejects(withItem({ quantity: 1.5 }), `["items"][1]["quantity"]`, "a quantity must be an integer")
      rejects(withItem({ quantity: Number.NaN }), `["items"][1]["quantity"]`, "a quantity must be an integer")
    })

    it("rejects a quantity that is not a number", () => {
      rejects(withItem({ quantity: "3" }), `["items"][1]["quantity"]`, "Expected number")
    })
  })

  describe("price", () => {
    it("accepts an integer number of cents from 0 to the maximum", () => {
      assert.strictEqual(OrderCommand.maxPrice, 100_000_000)
      accepts(withItem({ price: 0 }))
      accepts(withItem({ price: OrderCommand.maxPrice }))
    })

    it("rejects -1, the maximum + 1, fractions and non-finite numbers", () => {
      const path = `["items"][1]["price"]`
      rejects(withItem({ price: -1 }), path, "a price must be from 0 to 100000000 cents")
      rejects(withItem({ price: OrderCommand.maxPrice + 1 }), path, "a price must be from 0 to 100000000 cents")
      rejects(withItem({ price: 12.5 }), path, "a price must be an integer number of cents")
      rejects(withItem({ price: Number.POSITIVE_INFINITY }), path, "a price must be an integer number of cents")
    })

    it("keeps the largest possible total an exact integer", () => {
      const largest = OrderCommand.maxItems * 10_000 * OrderCommand.maxPrice
      assert.isTrue(Number.isSafeInteger(largest))
      assert.isTrue(largest < Number.MAX_SAFE_INTEGER)
    })
  })

  describe("ids", () => {
    const fields = ["orderId", "customerId"] as const

    it("accept 1 to 100 characters of text, including any script and emoji", () => {
      for (const field of fields) {
        accepts(create({ [field]: "x" }))
        accepts(create({ [field]: "x".repeat(100) }))
        accepts(create({ [field]: "Bestellung Nr. 42 — 注文 😀" }))
      }
      accepts(withItem({ productId: "x" }))
      accepts(withItem({ productId: "x".repeat(100) }))
    })

    it("reject the empty string, 101 characters, control characters, unpaired surrogates and format characters", () => {
      const format =
        "an id must not contain invisible format characters (Unicode category Cf, e.g. U+200B zero-width space, U+202E right-to-left override)"
      const cases = [
        ["", "an id must not be empty"],
        ["x".repeat(101), "an id must be at most 100 characters long"],
        ["a\nb", "an id must not contain control characters or unpaired surrogates"],
        ["a\u0000b", "an id must not contain control characters or unpaired surrogates"],
        ["a\u007fb", "an id must not contain control characters or unpaired surrogates"],
        ["a\u009fb", "an id must not contain control characters or unpaired surrogates"],
        ["a\ud800b", "an id must not contain control characters or unpaired surrogates"],
        ["a\u202eb", format],
        ["a\u200bb", format],
        ["\ufeffab", format],
        ["a\u2066b", format]
      ] as const
      for (const [id, message] of cases) {
        for (const field of fields) rejects(create({ [field]: id }), `["${field}"]`, message)
        rejects(withItem({ productId: id }), `["items"][1]["productId"]`, message)
      }
    })

    it("of existing orders follow the rule they were placed under: confirm and cancel take up to 200 characters", () => {
      accepts({ _tag: "ConfirmOrder", orderId: "x".repeat(200) })
      accepts({ ...cancel("why"), orderId: "a\u200bb" })
      rejects(
        { _tag: "ConfirmOrder", orderId: "x".repeat(201) },
        `["orderId"]`,
        "an id must be at most 200 characters long"
      )
      rejects(
        { _tag: "ConfirmOrder", orderId: "a\u0000b" },
        `["orderId"]`,
        "an id must not contain control characters or unpaired surrogates"
      )
    })

    it("make stream ids within the store's limit, in every category", () => {
      const isStreamId = Schema.is(EventEnvelope.StreamId)
      for (const id of ["x", "x".repeat(100), "Bestellung Nr. 42 — 注文 😀"]) {
        for (const category of ["Order", "Inventory", "Fulfilment"]) {
          assert.isTrue(isStreamId(StreamName.make(category, id)))
        }
      }
    })
  })

  describe("reason", () => {
    it("accepts 1 to 500 characters", () => {
      accepts(cancel("x"))
      accepts(cancel("x".repeat(500)))
    })

    it("rejects the empty string, 501 characters and control characters", () => {
      rejects(cancel(""), `["reason"]`, "a reason must not be empty")
      rejects(cancel("x".repeat(501)), `["reason"]`, "a reason must be at most 500 characters long")
      rejects(
        cancel("line 1\nline 2"),
        `["reason"]`,
        "a reason must not contain control characters or unpaired surrogates"
      )
    })
  })

  describe("at the command bus", () => {
    it.effect("an invalid command is refused with its path and message, before any decision", () =>
      Effect.gen(function* () {
        const bus = yield* CommandBus.CommandBus
        const store = yield* EventStore.EventStore
        const error = yield* Effect.flip(bus.dispatchUnknown(withItem({ quantity: 0 })))
        assert.strictEqual(error._tag, "InvalidCommand")
        assert.include(error.message, "a quantity must be from 1 to 10000")
        assert.include(error.message, `at ["items"][1]["quantity"]`)
        assert.strictEqual(yield* store.streamVersion("Order-o-1"), 0, "nothing was written")
      }).pipe(
        Effect.provide(
          CommandBus.layer([CommandBus.fromAggregate(OrderAggregate.OrderAggregate)]).pipe(
            Layer.provideMerge(InMemoryEventStore.layer)
          )
        )
      )
    )
  })
})
