/**
 * The events of the Inventory aggregate: the facts a product's stream records. The product id is
 * the stream id, so it is not repeated in the data.
 *
 * As with `OrderEvent`, the schemas check what must hold of any stored event (ids, integers), not
 * the business limits of `InventoryCommand`, so history never becomes invalid under a later rule.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { RecordedId } from "./Ids.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const InventoryEvent = Schema.TaggedUnion({
  StockRestocked: { quantity: Schema.Int },
  StockReserved: { orderId: RecordedId, quantity: Schema.Int },
  StockReleased: { orderId: RecordedId, quantity: Schema.Int },
  // the order's reservation became a sale: it leaves the state, the stock stays taken
  StockCommitted: { orderId: RecordedId, quantity: Schema.Int },
  // stock of a committed order comes back (the order was cancelled after its sale)
  StockReturned: { orderId: RecordedId, quantity: Schema.Int }
})

/**
 * @category models
 * @since 0.1.0
 */
export type InventoryEvent = typeof InventoryEvent.Type

/**
 * @category constructors
 * @since 0.2.0
 */
export const StockRestocked = InventoryEvent.cases.StockRestocked

/**
 * @category models
 * @since 0.2.0
 */
export type StockRestocked = typeof StockRestocked.Type

/**
 * @category constructors
 * @since 0.2.0
 */
export const StockReserved = InventoryEvent.cases.StockReserved

/**
 * @category models
 * @since 0.2.0
 */
export type StockReserved = typeof StockReserved.Type

/**
 * @category constructors
 * @since 0.2.0
 */
export const StockReleased = InventoryEvent.cases.StockReleased

/**
 * @category models
 * @since 0.2.0
 */
export type StockReleased = typeof StockReleased.Type

/**
 * @category constructors
 * @since 0.3.0
 */
export const StockCommitted = InventoryEvent.cases.StockCommitted

/**
 * @category models
 * @since 0.3.0
 */
export type StockCommitted = typeof StockCommitted.Type

/**
 * @category constructors
 * @since 0.3.0
 */
export const StockReturned = InventoryEvent.cases.StockReturned

/**
 * @category models
 * @since 0.3.0
 */
export type StockReturned = typeof StockReturned.Type
