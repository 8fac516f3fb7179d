import { assert, describe, it } from "@effect/vitest"
import { DeciderSpec } from "@eventline/testing"
import { Result } from "effect"
import { OrderCommand, OrderDecider, OrderEvent } from "../src/index.ts"

const now = "2026-03-04T05:06:07.890Z"
const spec = DeciderSpec.forDecider(OrderDecider.OrderDecider, { now })

const orderId = "order-1"
const items = [
  { productId: "book", quantity: 2, price: 1_250 },
  { productId: "pen", quantity: 3, price: 199 }
]
const create = OrderCommand.CreateOrder.make({ orderId, customerId: "customer-1", items })
const confirm = OrderCommand.ConfirmOrder.make({ orderId })
const cancel = OrderCommand.CancelOrder.make({ orderId, reason: "changed my mind" })

const created = OrderEvent.OrderCreated.make({
  customerId: "customer-1",
  currency: "EUR",
  items,
  totalAmount: 2 * 1_250 + 3 * 199
})
const confirmed = OrderEvent.OrderConfirmed.make({ confirmedAt: "2026-03-01T00:00:00.000Z" })
const cancelled = OrderEvent.OrderCancelled.make({ reason: "out of stock", cancelledAt: "2026-03-02T00:00:00.000Z" })

describe("OrderDecider", () => {
  describe("CreateOrder", () => {
    it("creates a new order with its total", () => {
      spec.given([]).when(create).then([created])
    })

    it("rejects an order that already exists, whatever its status", () => {
      for (const history of [[created], [created, confirmed], [created, cancelled], [created, confirmed, cancelled]]) {
        spec.given(history).when(create).thenRejects(new OrderDecider.OrderAlreadyExists({ orderId }))
      }
    })
  })

  describe("ConfirmOrder", () => {
    it("confirms a pending order at the decision time", () => {
      spec
        .given([created])
        .when(confirm)
        .then([OrderEvent.OrderConfirmed.make({ confirmedAt: now })])
    })

    it("rejects an order that does not exist", () => {
      spec.given([]).when(confirm).thenRejects(new OrderDecider.OrderNotFound({ orderId }))
    })

    it("rejects a confirmed order", () => {
      spec
        .given([created, confirmed])
        .when(confirm)
        .thenRejects(new OrderDecider.OrderNotPending({ orderId, status: "Confirmed" }))
    })

    it("rejects a cancelled order", () => {
      spec
        .given([created, cancelled])
        .when(confirm)
        .thenRejects(new OrderDecider.OrderNotPending({ orderId, status: "Cancelled" }))
      spec
        .given([created, confirmed, cancelled])
        .when(confirm)
        .thenRejects(new OrderDecider.OrderNotPending({ orderId, status: "Cancelled" }))
    })
  })

  describe("CancelOrder", () => {
    it("cancels a pending order with the reason, at the decision time", () => {
      spec
        .given([created])
        .when(cancel)
        .then([OrderEvent.OrderCancelled.make({ reason: "changed my mind", cancelledAt: now })])
    })

    it("cancels a confirmed order", () => {
      spec
        .given([created, confirmed])
        .when(cancel)
        .then([OrderEvent.OrderCancelled.make({ reason: "changed my mind", cancelledAt: now })])
    })

    it("rejects an order that does not exist", () => {
      spec.given([]).when(cancel).thenRejects(new OrderDecider.OrderNotFound({ orderId }))
    })

    it("rejects an order that is already cancelled", () => {
      spec.given([created, cancelled]).when(cancel).thenRejects(new OrderDecider.OrderAlreadyCancelled({ orderId }))
      spec
        .given([created, confirmed, cancelled])
        .when(cancel)
        .thenRejects(new OrderDecider.OrderAlreadyCancelled({ orderId }))
    })
  })

  describe("rejections", () => {
    it("say what is wrong, naming the order", () => {
      assert.strictEqual(new OrderDecider.OrderAlreadyExists({ orderId }).message, "order 'order-1' already exists")
      assert.strictEqual(new OrderDecider.OrderNotFound({ orderId }).message, "order 'order-1' does not exist")
      assert.strictEqual(
        new OrderDecider.OrderNotPending({ orderId, status: "Confirmed" }).message,
        "order 'order-1' is confirmed: only a pending order can be confirmed"
      )
      assert.strictEqual(
        new OrderDecider.OrderAlreadyCancelled({ orderId }).message,
        "order 'order-1' is already cancelled"
      )
    })
  })

  describe("total", () => {
    const totalOf = (lines: ReadonlyArray<OrderCommand.OrderItem>) =>
      spec
        .given([])
        .when(OrderCommand.CreateOrder.make({ orderId, customerId: "c", items: lines }))
        .then([
          OrderEvent.OrderCreated.make({
            customerId: "c",
            currency: "EUR",
            items: lines,
            totalAmount: expectedTotal(lines)
          })
        ])
    const expectedTotal = (lines: ReadonlyArray<OrderCommand.OrderItem>) =>
      lines.reduce((sum, line) => sum + line.price * line.quantity, 0)

    it("is the sum of price times quantity", () => {
      const lines = [
        { productId: "a", quantity: 1, price: 100 },
        { productId: "b", quantity: 7, price: 3 },
        { productId: "a", quantity: 10_000, price: 1 }
      ]
      assert.strictEqual(expectedTotal(lines), 100 + 21 + 10_000)
      totalOf(lines)
    })

    it("is zero for free items", () => {
      totalOf([{ productId: "free", quantity: 5, price: 0 }])
    })

    it("stays an exact integer at the largest order the command allows", () => {
      const largest = Array.from({ length: OrderCommand.maxItems }, (_, index) => ({
        productId: `p${index}`,
        quantity: 10_000,
        price: OrderCommand.maxPrice
      }))
      const { decision } = spec
        .given([])
        .when(OrderCommand.CreateOrder.make({ orderId, customerId: "c", items: largest }))
      assert.isTrue(Result.isSuccess(decision))
      const [event] = Result.getOrThrow(decision)
      assert.strictEqual(event?._tag, "OrderCreated")
      if (event?._tag === "OrderCreated") {
        assert.strictEqual(event.totalAmount, 100 * 10_000 * 100_000_000)
        assert.strictEqual(event.totalAmount, 1e14)
        assert.isTrue(Number.isSafeInteger(event.totalAmount))
      }
    })
  })

  describe("evolve", () => {
    it("folds a stream into the order's state", () => {
      const state = (events: ReadonlyArray<OrderEvent.OrderEvent>) => {
        let current = OrderDecider.OrderDecider.initialState
        for (const event of events) current = OrderDecider.OrderDecider.evolve(current, event)
        return current
      }
      assert.strictEqual(state([]).status, "None")
      assert.strictEqual(state([created]).status, "Pending")
      assert.strictEqual(state([created]).totalAmount, 3_097)
      assert.strictEqual(state([created]).customerId, "customer-1")
      assert.strictEqual(state([created, confirmed]).status, "Confirmed")
      assert.strictEqual(state([created, cancelled]).status, "Cancelled")
      assert.strictEqual(state([created, confirmed, cancelled]).status, "Cancelled")
      assert.strictEqual(state([created, confirmed, cancelled]).totalAmount, 3_097)
    })
  })
})
