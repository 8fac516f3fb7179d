/**
 * Properties of the OrderCreated v1 -> v2 upcaster, over random histories of version 1 events:
 * every one decodes, the histories fold to the state of the same histories written at version 2,
 * and downcasting gives back the version 1 data.
 */
import { assert, describe, it } from "@effect/vitest"
import { Aggregate, Decider, type EventEnvelope, Position } from "@eventline/core"
import { Arbitrary, Exit, Result, Schema } from "effect"
import { OrderAggregate, OrderDecider, OrderEvent } from "../src/index.ts"

/** Version 1 events, as 0.2 stored them (the data of OrderCreated without a currency). */
const V1Event = Schema.TaggedUnion({
  OrderCreated: {
    ...OrderEvent.OrderCreatedV1.fields,
    // short product ids only keep generation fast: the upcaster copies them
    items: Schema.Array(
      Schema.Struct({ ...OrderEvent.OrderLine.fields, productId: Schema.Literals(["book", "pen", "Füller 🖋"]) })
    ).check(Schema.isBetweenLength(1, 5))
  },
  OrderConfirmed: OrderEvent.OrderConfirmed.fields,
  OrderCancelled: OrderEvent.OrderCancelled.fields
})
type V1Event = typeof V1Event.Type

const histories = Arbitrary.array(Arbitrary.schema(V1Event), { maxLength: 20 })

const encodeJson = Schema.encodeSync(Schema.toCodecJson(V1Event))

/** A stored row of the event at `schemaVersion`, `data` as the store keeps it (no `_tag`). */
const row = (schemaVersion: number, data: Schema.Json, type: string, index: number): EventEnvelope.RecordedEvent => ({
  eventId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
  streamId: OrderAggregate.streamIdOf("o-1"),
  streamType: OrderAggregate.streamType,
  type,
  schemaVersion,
  data,
  metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" },
  version: index + 1,
  position: Position.make(1n, BigInt(index + 1))
})

const dataOf = (event: V1Event): Schema.JsonObject => {
  const { _tag, ...data } = encodeJson(event) as Schema.JsonObject
  return data
}

/** The history as 0.2 wrote it: every event at version 1. */
const asV1 = (events: ReadonlyArray<V1Event>) => events.map((event, i) => row(1, dataOf(event), event._tag, i))

/** The same history as this code writes it: OrderCreated at version 2, in euros. */
const asV2 = (events: ReadonlyArray<V1Event>) =>
  events.map((event, i) =>
    event._tag === "OrderCreated"
      ? row(2, { ...dataOf(event), currency: "EUR" }, event._tag, i)
      : row(1, dataOf(event), event._tag, i)
  )

const decodeAll = (rows: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
  rows.map((stored) => {
    const decoded = Aggregate.decodeEventResult(OrderAggregate.OrderAggregate, stored)
    if (Result.isFailure(decoded)) return assert.fail(decoded.failure.reason)
    return decoded.success
  })

describe("OrderCreated v1 -> v2", () => {
  it.prop(
    "upcast then decode succeeds for every v1 event, and folds like the history written as v2",
    [histories],
    ([events]) => {
      const upcast = decodeAll(asV1(events))
      const written = decodeAll(asV2(events))
      assert.deepStrictEqual(upcast, written)
      assert.deepStrictEqual(
        upcast,
        events.map((event) => (event._tag === "OrderCreated" ? { ...event, currency: "EUR" } : event))
      )
      assert.deepStrictEqual(
        Decider.fold(OrderDecider.OrderDecider, upcast),
        Decider.fold(OrderDecider.OrderDecider, written)
      )
    },
    { arbitrary: { runs: 300, size: 50 } }
  )

  it.prop(
    "downcasting the upcast data gives back the v1 data; an order in another currency does not downcast",
    [Arbitrary.schema(OrderEvent.OrderCreatedV1)],
    ([v1]) => {
      const v2 = Schema.decodeSync(OrderEvent.OrderCreatedV1ToV2)(v1)
      assert.strictEqual(v2.currency, OrderEvent.defaultCurrency)
      assert.deepStrictEqual(Schema.encodeSync(OrderEvent.OrderCreatedV1ToV2)(v2), v1)
      // an order in another currency has no version 1: a v1 reader would take it for euros
      const inDollars = Schema.encodeExit(OrderEvent.OrderCreatedV1ToV2)({ ...v2, currency: "USD" })
      assert.isTrue(Exit.isFailure(inDollars) && String(inDollars.cause).includes("has no version 1"))
    },
    { arbitrary: { runs: 200, size: 30 } }
  )
})
