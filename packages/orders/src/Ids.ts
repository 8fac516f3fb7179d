/**
 * The ids of the Order service, in one place: commands, events, the read model, the saga and the
 * HTTP API all name orders, customers and products with these schemas, so an id accepted at one
 * boundary is accepted at every other.
 *
 * Every id is 1 to 200 characters, with no control characters and no unpaired surrogates. Such
 * an id is a valid stream id (`EventEnvelope.StreamId`): an order id names the order's stream and
 * a product id the product's Inventory stream.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { plainText } from "./internal/plainText.ts"

/**
 * An id (order, customer, product). The bounds are written out here so that each broken one says
 * so in words (StreamId's pattern fails with "Expected a string matching the RegExp ...").
 *
 * @category schemas
 * @since 0.2.0
 */
export const Id = Schema.String.check(
  Schema.isMinLength(1, { message: "an id must not be empty" }),
  Schema.isMaxLength(200, { message: "an id must be at most 200 characters long" }),
  Schema.isPattern(plainText, { message: "an id must not contain control characters or unpaired surrogates" })
)

/**
 * The id of an order, which is also the id of its stream.
 *
 * @category schemas
 * @since 0.2.0
 */
export const OrderId = Id

/**
 * @category models
 * @since 0.2.0
 */
export type OrderId = typeof OrderId.Type

/**
 * The id of a customer.
 *
 * @category schemas
 * @since 0.2.0
 */
export const CustomerId = Id

/**
 * @category models
 * @since 0.2.0
 */
export type CustomerId = typeof CustomerId.Type

/**
 * The id of a product, which is also the id of its Inventory stream.
 *
 * @category schemas
 * @since 0.2.0
 */
export const ProductId = Id

/**
 * @category models
 * @since 0.2.0
 */
export type ProductId = typeof ProductId.Type
