/**
 * The rules of a product's stock, as a pure decider.
 *
 * - Restocking adds to what is available.
 * - Reserving more than is available is refused (`InsufficientStock`).
 * - Reserving twice for the same order, or releasing what was never reserved, changes nothing,
 *   so a process manager may repeat itself safely.
 * - Releasing gives back everything reserved for the order.
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
  }
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
    case "StockReleased": {
      const { [event.orderId]: _released, ...rest } = state.reservations
      return { available: state.available + event.quantity, reservations: rest }
    }
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
