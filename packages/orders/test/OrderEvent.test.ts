/**
 * History keeps the rule it was written under: events stored by 0.2 (ids up to 200 characters,
 * format characters allowed) still decode, although new ids are at most 100 characters.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { Ids, InventoryEvent, OrderEvent } from "../src/index.ts"

const long = "c".repeat(150)
const withFormatCharacter = "rtl\u202Eid"

describe("stored events under the 0.2 id rule", () => {
  it("decode although the ids break the rule for new ids", () => {
    for (const id of [long, withFormatCharacter]) {
      assert.isTrue(Schema.decodeUnknownExit(Ids.CustomerId)(id)._tag === "Failure", "refused as a new id")
      const created = Schema.decodeUnknownSync(OrderEvent.OrderEvent)({
        _tag: "OrderCreated",
        customerId: id,
        items: [{ productId: id, quantity: 1, price: 100 }],
        totalAmount: 100
      })
      assert.strictEqual(created._tag === "OrderCreated" ? created.customerId : "", id)
      const reserved = Schema.decodeUnknownSync(InventoryEvent.InventoryEvent)({
        _tag: "StockReserved",
        orderId: id,
        quantity: 1
      })
      assert.strictEqual(reserved._tag === "StockReserved" ? reserved.orderId : "", id)
    }
  })
})
