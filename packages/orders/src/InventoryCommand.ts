/**
 * The commands of the Inventory aggregate (stock per product, one stream per product) and the
 * rules their input must follow, checked by the Schema before a command reaches the decider.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { ProductId, RecordedId } from "./Ids.ts"

/**
 * How many units a command restocks or reserves: an integer from 1 to 1 000 000.
 *
 * @category schemas
 * @since 0.2.0
 */
export const Quantity = Schema.Int.check(
  Schema.isBetween({ minimum: 1, maximum: 1_000_000 }, { message: "a quantity must be from 1 to 1000000" })
)

/**
 * @category schemas
 * @since 0.1.0
 */
export const InventoryCommand = Schema.TaggedUnion({
  Restock: { productId: ProductId, quantity: Quantity },
  // sent by the saga for orders already placed: their ids follow the rule they were placed under
  Reserve: { productId: RecordedId, orderId: RecordedId, quantity: Quantity },
  Release: { productId: RecordedId, orderId: RecordedId },
  // the saga, once the order is confirmed and all its stock reserved: the reservation is final
  CommitReservation: { productId: RecordedId, orderId: RecordedId },
  // the saga, when an order whose stock it committed is cancelled: the quantity it committed
  ReturnStock: { productId: RecordedId, orderId: RecordedId, quantity: Quantity }
})

/**
 * @category models
 * @since 0.1.0
 */
export type InventoryCommand = typeof InventoryCommand.Type

/**
 * @category constructors
 * @since 0.2.0
 */
export const Restock = InventoryCommand.cases.Restock

/**
 * @category models
 * @since 0.2.0
 */
export type Restock = typeof Restock.Type

/**
 * @category constructors
 * @since 0.2.0
 */
export const Reserve = InventoryCommand.cases.Reserve

/**
 * @category models
 * @since 0.2.0
 */
export type Reserve = typeof Reserve.Type

/**
 * @category constructors
 * @since 0.2.0
 */
export const Release = InventoryCommand.cases.Release

/**
 * @category models
 * @since 0.2.0
 */
export type Release = typeof Release.Type

/**
 * Makes an order's reservation final: the stock is sold, and the order leaves the product's state.
 *
 * @category constructors
 * @since 0.3.0
 */
export const CommitReservation = InventoryCommand.cases.CommitReservation

/**
 * @category models
 * @since 0.3.0
 */
export type CommitReservation = typeof CommitReservation.Type

/**
 * Gives back the stock of an order cancelled after its reservation was committed.
 *
 * @category constructors
 * @since 0.3.0
 */
export const ReturnStock = InventoryCommand.cases.ReturnStock

/**
 * @category models
 * @since 0.3.0
 */
export type ReturnStock = typeof ReturnStock.Type
