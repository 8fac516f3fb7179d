import { assert, describe, it } from "@effect/vitest"
import { Decider } from "@eventline/core"
import { DeciderSpec } from "@eventline/testing"
import { InventoryCommand, InventoryDecider, InventoryEvent } from "../src/index.ts"

const spec = DeciderSpec.forDecider(InventoryDecider.InventoryDecider)

const productId = "book"
const restocked = InventoryEvent.StockRestocked.make({ quantity: 5 })
const reserved = InventoryEvent.StockReserved.make({ orderId: "order-1", quantity: 3 })
const released = InventoryEvent.StockReleased.make({ orderId: "order-1", quantity: 3 })
const committed = InventoryEvent.StockCommitted.make({ orderId: "order-1", quantity: 3 })
const returned = InventoryEvent.StockReturned.make({ orderId: "order-1", quantity: 3 })

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
  it("commits a reservation: the stock stays sold and the order leaves the state; committing nothing changes nothing", () => {
    spec
      .given([restocked, reserved])
      .when(InventoryCommand.CommitReservation.make({ productId, orderId: "order-1" }))
      .then([committed])
    spec
      .given([restocked, reserved, committed])
      .when(InventoryCommand.CommitReservation.make({ productId, orderId: "order-1" }))
      .then([])
    spec
      .given([restocked])
      .when(InventoryCommand.CommitReservation.make({ productId, orderId: "order-1" }))
      .then([])
  })

  it("a committed order holds no reservation: a Release of it changes nothing, a Reserve reserves anew", () => {
    spec
      .given([restocked, reserved, committed])
      .when(InventoryCommand.Release.make({ productId, orderId: "order-1" }))
      .then([])
    // no memory of committed orders (it would grow with every order): the saga never sends this
    spec
      .given([restocked, reserved, committed])
      .when(InventoryCommand.Reserve.make({ productId, orderId: "order-1", quantity: 2 }))
      .then([InventoryEvent.StockReserved.make({ orderId: "order-1", quantity: 2 })])
  })

  it("returns the stock of a committed order; one still reserved (never committed) is released instead", () => {
    spec
      .given([restocked, reserved, committed])
      .when(InventoryCommand.ReturnStock.make({ productId, orderId: "order-1", quantity: 3 }))
      .then([returned])
    spec
      .given([restocked, reserved])
      .when(InventoryCommand.ReturnStock.make({ productId, orderId: "order-1", quantity: 3 }))
      .then([released])
  })

  it("holds only the orders in flight: committed and released ones leave the reservations", () => {
    const fold = (events: ReadonlyArray<InventoryEvent.InventoryEvent>) =>
      Decider.fold(InventoryDecider.InventoryDecider, events)
    const order = (orderId: string) => InventoryEvent.StockReserved.make({ orderId, quantity: 1 })
    assert.deepStrictEqual(fold([restocked, reserved, committed]), { available: 2, reservations: {} })
    assert.deepStrictEqual(fold([restocked, reserved, committed, returned]), { available: 5, reservations: {} })
    assert.deepStrictEqual(
      fold([
        restocked,
        order("a"),
        order("b"),
        InventoryEvent.StockCommitted.make({ orderId: "a", quantity: 1 }),
        InventoryEvent.StockReleased.make({ orderId: "b", quantity: 1 }),
        order("c")
      ]),
      { available: 3, reservations: { c: 1 } }
    )
  })
})
