/**
 * The Inventory aggregate: stock per product (one stream per product). Stock is restocked,
 * reserved for an order, and released again. Reserving more than is available is refused;
 * reserving twice for the same order, or releasing what was never reserved, changes nothing,
 * so a process manager may repeat itself safely.
 *
 * @since 0.1.0
 */
import { Aggregate, Decider } from "@eventline/core"
import { Schema } from "effect"
import { Id } from "./OrderCommand.ts"

const Quantity = Schema.Int.check(
  Schema.isBetween({ minimum: 1, maximum: 1_000_000 }, { message: "a quantity must be from 1 to 1000000" })
)

/**
 * @category commands
 * @since 0.1.0
 */
export const InventoryCommand = Schema.TaggedUnion({
  Restock: { productId: Id, quantity: Quantity },
  Reserve: { productId: Id, orderId: Id, quantity: Quantity },
  Release: { productId: Id, orderId: Id }
})

/**
 * @category commands
 * @since 0.1.0
 */
export type InventoryCommand = typeof InventoryCommand.Type

/**
 * @category events
 * @since 0.1.0
 */
export const InventoryEvent = Schema.TaggedUnion({
  StockRestocked: { quantity: Schema.Int },
  StockReserved: { orderId: Schema.String, quantity: Schema.Int },
  StockReleased: { orderId: Schema.String, quantity: Schema.Int }
})

/**
 * @category events
 * @since 0.1.0
 */
export type InventoryEvent = typeof InventoryEvent.Type

/**
 * @category state
 * @since 0.1.0
 */
export const InventoryState = Schema.Struct({
  available: Schema.Int,
  /** Reserved quantity per order. */
  reservations: Schema.Record(Schema.String, Schema.Int)
})

/**
 * @category state
 * @since 0.1.0
 */
export type InventoryState = typeof InventoryState.Type

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
 * @category deciders
 * @since 0.1.0
 */
export const InventoryDecider: Decider.Decider<InventoryCommand, InventoryEvent, InventoryState, InsufficientStock> = {
  initialState: { available: 0, reservations: {} },
  decide: (command, state) => {
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
  },
  evolve: (state, event) => {
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
}

/**
 * @category aggregates
 * @since 0.1.0
 */
export const InventoryAggregate = Aggregate.make({
  streamType: "Inventory",
  decider: InventoryDecider,
  commands: InventoryCommand,
  events: InventoryEvent,
  schemaVersion: 1,
  streamId: (command) => command.productId,
  // a product's stream grows with every order: load it from a snapshot
  snapshot: { state: InventoryState, schemaVersion: 1, every: 100 }
})
