/**
 * The events of the Order aggregate: the facts an order's stream records.
 *
 * The order id is not repeated in the events: the stream they are stored in is `Order-<orderId>`
 * (`OrderAggregate.streamIdOf` / `orderIdOf`), and every consumer receives it with the envelope
 * (`RecordedEvent.streamId`, the Kafka key). A copy in the data could only ever disagree with it.
 * Ids in events take `Ids.RecordedId`, the rule they were written under, not the stricter one
 * for new ids.
 *
 * The event schemas check what must hold of any stored order (ids, integers, timestamps) but not
 * the business limits of `OrderCommand` (at most 100 items, prices up to 1 000 000.00, reasons up
 * to 500 characters). Those limits may change; events written under older limits must still
 * decode, so history is never made invalid by a later rule.
 *
 * @since 0.1.0
 */
import { EventEnvelope } from "@eventline/core"
import { Schema } from "effect"
import { RecordedId } from "./Ids.ts"

/**
 * A line of a created order, as stored.
 *
 * @category schemas
 * @since 0.1.0
 */
export const OrderLine = Schema.Struct({
  productId: RecordedId,
  quantity: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** Minor units (cents). */
  price: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

/**
 * @category models
 * @since 0.1.0
 */
export type OrderLine = typeof OrderLine.Type

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderEvent = Schema.TaggedUnion({
  OrderCreated: {
    customerId: RecordedId,
    items: Schema.Array(OrderLine).check(Schema.isMinLength(1)),
    /** The sum of price × quantity over the items, in minor units (cents). */
    totalAmount: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
  },
  OrderConfirmed: { confirmedAt: EventEnvelope.Timestamp },
  OrderCancelled: { reason: Schema.String.check(Schema.isMinLength(1)), cancelledAt: EventEnvelope.Timestamp }
})

/**
 * @category models
 * @since 0.1.0
 */
export type OrderEvent = typeof OrderEvent.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const OrderCreated = OrderEvent.cases.OrderCreated

/**
 * @category models
 * @since 0.1.0
 */
export type OrderCreated = typeof OrderCreated.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const OrderConfirmed = OrderEvent.cases.OrderConfirmed

/**
 * @category models
 * @since 0.1.0
 */
export type OrderConfirmed = typeof OrderConfirmed.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const OrderCancelled = OrderEvent.cases.OrderCancelled

/**
 * @category models
 * @since 0.1.0
 */
export type OrderCancelled = typeof OrderCancelled.Type
