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
 * Their shape is versioned per event type: `OrderCreated` is at version 2 (it gained the order's
 * `currency`), the others at version 1. Rows stored at version 1 are never rewritten; they are
 * upcast when read (`upcasters`, applied by `Aggregate.decodeEvent` on every read path).
 *
 * @since 0.1.0
 */
import { EventEnvelope, Upcaster } from "@eventline/core"
import { Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
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
 * An ISO 4217 currency code: three capital letters, such as `EUR`.
 *
 * @category schemas
 * @since 0.3.0
 */
export const Currency = Schema.String.check(
  Schema.isPattern(/^[A-Z]{3}$/, { message: "a currency must be an ISO 4217 code such as EUR" })
)

/**
 * The currency of the orders placed before orders had one (and of those placed without one).
 *
 * @category constants
 * @since 0.3.0
 */
export const defaultCurrency = "EUR"

/**
 * The data of `OrderCreated` version 1 as it was stored (0.1.0 to 0.2.x): no currency. Frozen:
 * it describes rows already written, so a change to it (or to `OrderLine`) is a new version.
 *
 * @category versions
 * @since 0.3.0
 */
export const OrderCreatedV1 = Schema.Struct({
  customerId: RecordedId,
  items: Schema.Array(OrderLine).check(Schema.isMinLength(1)),
  totalAmount: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

/**
 * The data of `OrderCreated` version 2, the current one: the order's currency, in which its
 * prices and total are.
 *
 * @category versions
 * @since 0.3.0
 */
export const OrderCreatedV2 = Schema.Struct({
  customerId: RecordedId,
  // the default is also the Avro default: a v2 reader of v1 data (no currency) reads euros
  currency: Currency.annotate({ default: defaultCurrency }),
  items: Schema.Array(OrderLine).check(Schema.isMinLength(1)),
  /** The sum of price × quantity over the items, in minor units (cents) of the currency. */
  totalAmount: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

/**
 * `OrderCreated` v1 -> v2: an order of version 1 was in euros. The encoding is the downcast
 * (v2 -> v1, for a consumer that still reads v1): it refuses an order in another currency, which
 * a v1 reader would take for euros.
 *
 * @category versions
 * @since 0.3.0
 */
export const OrderCreatedV1ToV2 = OrderCreatedV1.pipe(
  Schema.decodeTo(
    OrderCreatedV2,
    SchemaTransformation.transformEffect({
      decode: (v1): Effect.Effect<typeof OrderCreatedV2.Encoded> =>
        Effect.succeed({ ...v1, currency: defaultCurrency }),
      encode: ({ currency, ...v1 }) =>
        currency === defaultCurrency
          ? Effect.succeed(v1)
          : Effect.fail(
              new SchemaIssue.InvalidValue(
                { message: `an order in ${currency} has no version 1 (orders of version 1 are in euros)` },
                currency
              )
            )
    })
  )
)

/**
 * The versions of the Order events: `OrderCreated` is at version 2; the others are still at the
 * aggregate's version 1.
 *
 * @category versions
 * @since 0.3.0
 */
export const upcasters = {
  OrderCreated: Upcaster.chain([OrderCreatedV1ToV2])
} satisfies Upcaster.Upcasters<"OrderCreated" | "OrderConfirmed" | "OrderCancelled">

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderEvent = Schema.TaggedUnion({
  // version 2 (see `upcasters`)
  OrderCreated: OrderCreatedV2.fields,
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
