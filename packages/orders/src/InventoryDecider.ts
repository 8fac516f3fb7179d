/**
 * The rules of a product's stock, as a pure decider.
 *
 * - Restocking adds to what is available.
 * - Reserving more than is available is refused (`InsufficientStock`).
 * - Reserving twice for the same order, or releasing what was never reserved, changes nothing,
 *   so a process manager may repeat itself safely.
 * - Releasing gives back everything reserved for the order.
 * - Committing makes a reservation final (the stock is sold): the order leaves the state, so the
 *   state holds only the orders in flight, not every order ever served. The decider keeps no
 *   memory of committed orders (that memory is what grew without bound): a Reserve for a committed
 *   order reserves anew, a Release of it changes nothing. The saga sends Reserve once per order
 *   and never after its commit, and a redelivered command is answered by its command id.
 * - Returning stock of a committed order adds it back; while the order still holds a reservation
 *   (committed never, e.g. by a saga instance older than the commit) it releases that instead.
 *
 * @since 0.2.0
 */
import { Decider } from "@eventline/core"
import { Schema } from "effect"
import type { InventoryCommand } from "./InventoryCommand.ts"
import type { InventoryEvent } from "./InventoryEvent.ts"

/**
 * The state decisions need. A schema, so that a snapshot can be stored and read back.
 *
 * @category schemas
 * @since 0.1.0
 */
export const InventoryState = Schema.Struct({
  available: Schema.Int,
  /** Reserved quantity per order. */
  reservations: Schema.Record(Schema.String, Schema.Int)
})

/**
 * @category models
 * @since 0.1.0
 */
export type InventoryState = typeof InventoryState.Type

/**
 * The stock of a product nobody has restocked yet.
 *
 * @category constructors
 * @since 0.2.0
 */
export const initialState: InventoryState = { available: 0, reservations: {} }

/**
 * @category rejections
 * @since 0.1.0
 */
export class InsufficientStock extends Schema.TaggedError<InsufficientStock>()("InsufficientStock", {
  productId: Schema.String,
  requested: Schema.Int,
  available: Schema.Int
}) {
  override get message(): string {
    return `product '${this.productId}' has ${this.available} in stock, ${this.requested} requested`
  }
}

/**
 * Every way the decider can refuse a command.
 *
 * @category rejections
 * @since 0.2.0
 */
export const InventoryRejection = InsufficientStock

/**
 * @category rejections
 * @since 0.2.0
 */
export type InventoryRejection = InsufficientStock

const decide = (
  command: InventoryCommand,
  state: InventoryState
): Decider.Decision<InventoryEvent, InventoryRejection> => {
  switch (command._tag) {
    case "Restock":
      return Decider.accept<[InventoryEvent]>({ _tag: "StockRestocked", quantity: command.quantity })
    case "Reserve": {
      if (state.reservations[command.orderId] !== undefined) return Decider.accept()
      if (command.quantity > state.available) {
        return Decider.reject(
          new InsufficientStock({
            productId: command.productId,
            requested: command.quantity,
            available: state.available
          })
        )
      }
      return Decider.accept<[InventoryEvent]>({
        _tag: "StockReserved",
        orderId: command.orderId,
        quantity: command.quantity
      })
    }
    case "Release": {
      const reserved = state.reservations[command.orderId]
      if (reserved === undefined) return Decider.accept()
      return Decider.accept<[InventoryEvent]>({ _tag: "StockReleased", orderId: command.orderId, quantity: reserved })
    }
    case "CommitReservation": {
      const reserved = state.reservations[command.orderId]
      if (reserved === undefined) return Decider.accept()
      return Decider.accept<[InventoryEvent]>({ _tag: "StockCommitted", orderId: command.orderId, quantity: reserved })
    }
    case "ReturnStock": {
      const reserved = state.reservations[command.orderId]
      return Decider.accept<[InventoryEvent]>(
        reserved === undefined
          ? { _tag: "StockReturned", orderId: command.orderId, quantity: command.quantity }
          : { _tag: "StockReleased", orderId: command.orderId, quantity: reserved }
      )
    }
  }
}

// a copy per event, of the orders in flight only: committed ones leave the map
const without = (reservations: InventoryState["reservations"], orderId: string): InventoryState["reservations"] => {
  const { [orderId]: _gone, ...rest } = reservations
  return rest
}

const evolve = (state: InventoryState, event: InventoryEvent): InventoryState => {
  switch (event._tag) {
    case "StockRestocked":
      return { ...state, available: state.available + event.quantity }
    case "StockReserved":
      return {
        available: state.available - event.quantity,
        reservations: { ...state.reservations, [event.orderId]: event.quantity }
      }
    case "StockReleased":
      return { available: state.available + event.quantity, reservations: without(state.reservations, event.orderId) }
    case "StockCommitted":
      return { ...state, reservations: without(state.reservations, event.orderId) }
    case "StockReturned":
      return { ...state, available: state.available + event.quantity }
  }
}

/**
 * @category deciders
 * @since 0.1.0
 */
export const InventoryDecider: Decider.Decider<InventoryCommand, InventoryEvent, InventoryState, InventoryRejection> = {
  initialState,
  decide,
  evolve
}
