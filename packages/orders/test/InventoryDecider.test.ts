import { assert, describe, it } from "@effect/vitest"
import { Decider } from "@eventline/core"
import { DeciderSpec } from "@eventline/testing"
import { InventoryCommand, InventoryDecider, InventoryEvent } from "../src/index.ts"

const spec = DeciderSpec.forDecider(InventoryDecider.InventoryDecider)

const productId = "book"
const restocked = InventoryEvent.StockRestocked.make({ quantity: 5 })
const reserved = InventoryEvent.StockReserved.make({ orderId: "order-1", quantity: 3 })
const released = InventoryEvent.StockReleased.make({ orderId: "order-1", quantity: 3 })

describe("InventoryDecider", () => {
  it("restocks", () => {
    spec
      .given([])
      .when(InventoryCommand.Restock.make({ productId, quantity: 5 }))
      .then([restocked])
  })

  it("reserves what is available for an order", () => {
    spec
      .given([restocked])
      .when(InventoryCommand.Reserve.make({ productId, orderId: "order-1", quantity: 3 }))
      .then([reserved])
  })

  it("refuses to reserve more than is available", () => {
    spec
      .given([restocked, reserved])
      .when(InventoryCommand.Reserve.make({ productId, orderId: "order-2", quantity: 3 }))
      .thenRejects(new InventoryDecider.InsufficientStock({ productId, requested: 3, available: 2 }))
  })

  it("reserving again for the same order changes nothing", () => {
    spec
      .given([restocked, reserved])
      .when(InventoryCommand.Reserve.make({ productId, orderId: "order-1", quantity: 3 }))
      .then([])
  })

  it("releases everything reserved for the order; releasing what was never reserved changes nothing", () => {
    spec
      .given([restocked, reserved])
      .when(InventoryCommand.Release.make({ productId, orderId: "order-1" }))
      .then([released])
    spec
      .given([restocked, reserved, released])
      .when(InventoryCommand.Release.make({ productId, orderId: "order-1" }))
      .then([])
  })

  it("evolves the available stock and the reservations", () => {
    const fold = (events: ReadonlyArray<InventoryEvent.InventoryEvent>) =>
      Decider.fold(InventoryDecider.InventoryDecider, events)
    assert.deepStrictEqual(fold([restocked, reserved]), { available: 2, reservations: { "order-1": 3 } })
    assert.deepStrictEqual(fold([restocked, reserved, released]), { available: 5, reservations: {} })
  })
})
