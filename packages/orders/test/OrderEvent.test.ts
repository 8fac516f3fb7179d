/**
 * History keeps the rule it was written under: events stored by 0.2 (ids up to 200 characters,
 * format characters allowed, OrderCreated at version 1) still decode, although new ids are at
 * most 100 characters.
 */
import { assert, describe, it } from "@effect/vitest"
import { Aggregate, Position } from "@eventline/core"
import { Result, Schema } from "effect"
import { Ids, InventoryEvent, OrderAggregate } from "../src/index.ts"

const long = "c".repeat(150)
const withFormatCharacter = "rtl\u202Eid"

describe("stored events under the 0.2 id rule", () => {
  it("decode although the ids break the rule for new ids", () => {
    for (const id of [long, withFormatCharacter]) {
      assert.isTrue(Schema.decodeUnknownExit(Ids.CustomerId)(id)._tag === "Failure", "refused as a new id")
      const created = Aggregate.decodeEventResult(OrderAggregate.OrderAggregate, {
        eventId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        streamId: OrderAggregate.streamIdOf(id),
        streamType: OrderAggregate.streamType,
        type: "OrderCreated",
        schemaVersion: 1,
        data: { customerId: id, items: [{ productId: id, quantity: 1, price: 100 }], totalAmount: 100 },
        metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" },
        version: 1,
        position: Position.make(1n, 1n)
      })
      assert.isTrue(Result.isSuccess(created))
      if (Result.isSuccess(created)) {
        assert.strictEqual(created.success._tag === "OrderCreated" ? created.success.customerId : "", id)
      }
      const reserved = Schema.decodeUnknownSync(InventoryEvent.InventoryEvent)({
        _tag: "StockReserved",
        orderId: id,
        quantity: 1
      })
      assert.strictEqual(reserved._tag === "StockReserved" ? reserved.orderId : "", id)
    }
  })
})
