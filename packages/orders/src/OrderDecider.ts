/**
 * The rules of an order, as a pure decider.
 *
 * - An order is created once; creating it again is refused (`OrderAlreadyExists`).
 * - Confirming or cancelling an order that was never created is refused (`OrderNotFound`).
 * - Only a pending order can be confirmed (`OrderNotPending`).
 * - A pending or confirmed order can be cancelled; a cancelled one cannot (`OrderAlreadyCancelled`).
 *   Cancelled is terminal.
 *
 * The total is the sum of price × quantity in minor units; the command's bounds keep it an exact
 * integer (see `OrderCommand.maxPrice`).
 *
 * @since 0.1.0
 */
import { Decider } from "@eventline/core"
import { Schema } from "effect"
import { RecordedId } from "./Ids.ts"
import type { OrderCommand } from "./OrderCommand.ts"
import { defaultCurrency, type OrderEvent, OrderLine } from "./OrderEvent.ts"

/**
 * Where an order is in its life: `None` until it is created.
 *
 * @category schemas
 * @since 0.1.0
 */
export const OrderStatus = Schema.Literals(["None", "Pending", "Confirmed", "Cancelled"])

/**
 * @category models
 * @since 0.1.0
 */
export type OrderStatus = typeof OrderStatus.Type

/**
 * The state decisions need. A schema, so that a snapshot can be stored and read back.
 *
 * @category schemas
 * @since 0.1.0
 */
export const OrderState = Schema.Struct({
  status: OrderStatus,
  /** Empty while the status is `None`. */
  customerId: Schema.String,
  /** Empty while the status is `None`. */
  currency: Schema.String,
  items: Schema.Array(OrderLine),
  /** Minor units (cents). */
  totalAmount: Schema.Int
})

/**
 * @category models
 * @since 0.1.0
 */
export type OrderState = typeof OrderState.Type

/**
 * The state of an order that does not exist yet.
 *
 * @category constructors
 * @since 0.1.0
 */
export const initialState: OrderState = { status: "None", customerId: "", currency: "", items: [], totalAmount: 0 }

/**
 * @category rejections
 * @since 0.1.0
 */
export class OrderAlreadyExists extends Schema.TaggedError<OrderAlreadyExists>()("OrderAlreadyExists", {
  orderId: RecordedId
}) {
  override get message(): string {
    return `order '${this.orderId}' already exists`
  }
}

/**
 * @category rejections
 * @since 0.1.0
 */
export class OrderNotFound extends Schema.TaggedError<OrderNotFound>()("OrderNotFound", {
  orderId: RecordedId
}) {
  override get message(): string {
    return `order '${this.orderId}' does not exist`
  }
}

/**
 * @category rejections
 * @since 0.1.0
 */
export class OrderNotPending extends Schema.TaggedError<OrderNotPending>()("OrderNotPending", {
  orderId: RecordedId,
  status: OrderStatus
}) {
  override get message(): string {
    return `order '${this.orderId}' is ${this.status.toLowerCase()}: only a pending order can be confirmed`
  }
}

/**
 * @category rejections
 * @since 0.1.0
 */
export class OrderAlreadyCancelled extends Schema.TaggedError<OrderAlreadyCancelled>()("OrderAlreadyCancelled", {
  orderId: RecordedId
}) {
  override get message(): string {
    return `order '${this.orderId}' is already cancelled`
  }
}

/**
 * Every way the decider can refuse a command.
 *
 * @category rejections
 * @since 0.1.0
 */
export const OrderRejection = Schema.Union([OrderAlreadyExists, OrderNotFound, OrderNotPending, OrderAlreadyCancelled])

/**
 * @category rejections
 * @since 0.1.0
 */
export type OrderRejection = typeof OrderRejection.Type

/**
 * The total of some order lines: the sum of price × quantity, in minor units.
 *
 * @category computations
 * @since 0.1.0
 */
export const totalAmount = (items: ReadonlyArray<OrderLine>): number => {
  let total = 0
  for (const item of items) total += item.price * item.quantity
  return total
}

const decide = (
  command: OrderCommand,
  state: OrderState,
  context: Decider.DecisionContext
): Decider.Decision<OrderEvent, OrderRejection> => {
  switch (command._tag) {
    case "CreateOrder": {
      if (state.status !== "None") return Decider.reject(new OrderAlreadyExists({ orderId: command.orderId }))
      const items = command.items.map(({ productId, quantity, price }) => ({ productId, quantity, price }))
      return Decider.accept<[OrderEvent]>({
        _tag: "OrderCreated",
        customerId: command.customerId,
        currency: command.currency ?? defaultCurrency,
        items,
        totalAmount: totalAmount(items)
      })
    }
    case "ConfirmOrder": {
      if (state.status === "None") return Decider.reject(new OrderNotFound({ orderId: command.orderId }))
      if (state.status !== "Pending") {
        return Decider.reject(new OrderNotPending({ orderId: command.orderId, status: state.status }))
      }
      return Decider.accept<[OrderEvent]>({ _tag: "OrderConfirmed", confirmedAt: context.now })
    }
    case "CancelOrder": {
      if (state.status === "None") return Decider.reject(new OrderNotFound({ orderId: command.orderId }))
      if (state.status === "Cancelled") return Decider.reject(new OrderAlreadyCancelled({ orderId: command.orderId }))
      return Decider.accept<[OrderEvent]>({ _tag: "OrderCancelled", reason: command.reason, cancelledAt: context.now })
    }
  }
}

const evolve = (state: OrderState, event: OrderEvent): OrderState => {
  switch (event._tag) {
    case "OrderCreated":
      return {
        status: "Pending",
        customerId: event.customerId,
        currency: event.currency,
        items: event.items,
        totalAmount: event.totalAmount
      }
    case "OrderConfirmed":
      return { ...state, status: "Confirmed" }
    case "OrderCancelled":
      return { ...state, status: "Cancelled" }
  }
}

/**
 * @category deciders
 * @since 0.1.0
 */
export const OrderDecider: Decider.Decider<OrderCommand, OrderEvent, OrderState, OrderRejection> = {
  initialState,
  decide,
  evolve
}
