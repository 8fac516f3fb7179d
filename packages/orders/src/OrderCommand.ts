/**
 * The commands of the Order aggregate and the rules their input must follow. Everything that can
 * be checked without looking at an order's history is checked here, by the Schema, so a command
 * that reaches the decider is well formed and every refusal names the field at fault.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Ids from "./Ids.ts"
import { plainText } from "./internal/plainText.ts"
import { Currency } from "./OrderEvent.ts"

/**
 * How many units of a product an order line asks for: an integer from 1 to 10 000.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Quantity = Schema.Number.check(
  Schema.isInt({ message: "a quantity must be an integer" }),
  Schema.isBetween({ minimum: 1, maximum: 10_000 }, { message: "a quantity must be from 1 to 10000" })
)

/**
 * The maximum unit price, in minor units (cents): 100 000 000, i.e. 1 000 000.00.
 *
 * With at most 100 lines of at most 10 000 units each, an order totals at most
 * 100 × 10 000 × 100 000 000 = 10^14 minor units, far below `Number.MAX_SAFE_INTEGER`
 * (2^53 − 1 ≈ 9.007 × 10^15). Every product and every partial sum is an integer no larger than
 * that, so the total is computed exactly with plain numbers.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxPrice = 100_000_000

/**
 * The most lines one order may have.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxItems = 100

/**
 * A unit price in minor units (cents): an integer from 0 to {@link maxPrice}.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Price = Schema.Number.check(
  Schema.isInt({ message: "a price must be an integer number of cents" }),
  Schema.isBetween({ minimum: 0, maximum: maxPrice }, { message: `a price must be from 0 to ${maxPrice} cents` })
)

/**
 * One line of an order.
 *
 * @category schemas
 * @since 0.1.0
 */
export const OrderItem = Schema.Struct({
  productId: Ids.ProductId,
  quantity: Quantity,
  price: Price
})

/**
 * @category models
 * @since 0.1.0
 */
export type OrderItem = typeof OrderItem.Type

/**
 * The lines of an order: 1 to {@link maxItems}.
 *
 * @category schemas
 * @since 0.1.0
 */
export const OrderItems = Schema.Array(OrderItem).check(
  Schema.isBetweenLength(1, maxItems, { message: `an order must have from 1 to ${maxItems} items` })
)

/**
 * Why an order is cancelled: 1 to 500 characters, no control characters, no unpaired surrogates.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Reason = Schema.String.check(
  Schema.isMinLength(1, { message: "a reason must not be empty" }),
  Schema.isMaxLength(500, { message: "a reason must be at most 500 characters long" }),
  Schema.isPattern(plainText, { message: "a reason must not contain control characters or unpaired surrogates" })
)

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderCommand = Schema.TaggedUnion({
  // without a currency an order is in euros (`OrderEvent.defaultCurrency`), as before 0.3.0
  CreateOrder: {
    orderId: Ids.OrderId,
    customerId: Ids.CustomerId,
    currency: Schema.optionalKey(Currency),
    items: OrderItems
  },
  // an existing order: the saga confirms and cancels orders placed under the older id rule too
  ConfirmOrder: { orderId: Ids.RecordedId },
  CancelOrder: { orderId: Ids.RecordedId, reason: Reason }
})

/**
 * @category models
 * @since 0.1.0
 */
export type OrderCommand = typeof OrderCommand.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const CreateOrder = OrderCommand.cases.CreateOrder

/**
 * @category models
 * @since 0.1.0
 */
export type CreateOrder = typeof CreateOrder.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const ConfirmOrder = OrderCommand.cases.ConfirmOrder

/**
 * @category models
 * @since 0.1.0
 */
export type ConfirmOrder = typeof ConfirmOrder.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const CancelOrder = OrderCommand.cases.CancelOrder

/**
 * @category models
 * @since 0.1.0
 */
export type CancelOrder = typeof CancelOrder.Type
