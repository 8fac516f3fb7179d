/**
 * The ids of the Order service, in one place: commands, events, the read model, the saga and the
 * HTTP API all name orders, customers and products with these schemas, so an id accepted at one
 * boundary is accepted at every other.
 *
 * Every id is 1 to {@link maxLength} (100) characters, with no control characters, no unpaired
 * surrogates and no invisible format characters (Unicode category Cf: zero-width spaces and
 * joiners, bidirectional overrides such as U+202E, the byte order mark): an id is shown to people
 * (in logs, lists, consoles), and such characters make two different ids look the same or make
 * one read backwards. Nor U+FFFD, the replacement character: a request body that is not valid
 * UTF-8 is decoded with U+FFFD in place of the bad bytes, so two different byte sequences would
 * name one id (path parameters that are not UTF-8 match no route: 404). Refused with a message,
 * never stripped, so the id a client sent is the id it gets back. Free text (a cancellation's
 * reason) keeps format characters: right-to-left scripts need them.
 *
 * The limit is the one every part accepts: the router's path parameters (at most 100 characters),
 * and the stream ids made from an id, `Order-<id>`, `Inventory-<id>` and the saga's
 * `Fulfilment-<id>` (`StreamName`), within the store's 200 (`EventEnvelope.StreamId`).
 *
 * History keeps the rule it was written under: events, the saga's inputs and the commands derived
 * from them (reserve, release, cancel) take {@link RecordedId}, the rule before 0.3.0 (up to 200
 * characters, format characters allowed), so no stored event stops decoding because the rule for
 * new ids became stricter.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { noFormatCharacters, noReplacementCharacter, plainText } from "./internal/plainText.ts"

/**
 * The longest id: 100 characters (code points), the longest path parameter the router takes.
 *
 * @category constants
 * @since 0.3.0
 */
export const maxLength = 100

/**
 * An id (order, customer, product). The bounds are written out here so that each broken one says
 * so in words (StreamId's pattern fails with "Expected a string matching the RegExp ...").
 *
 * @category schemas
 * @since 0.2.0
 */
export const Id = Schema.String.check(
  Schema.isMinLength(1, {
    message: "an id must not be empty",
    description: `1 to ${maxLength} characters; no control characters (Cc), unpaired surrogates (Cs), invisible format characters (Cf: zero-width, bidirectional overrides) or U+FFFD`
  }),
  Schema.isMaxLength(maxLength, { message: `an id must be at most ${maxLength} characters long` }),
  Schema.isPattern(plainText, { message: "an id must not contain control characters or unpaired surrogates" }),
  Schema.isPattern(noFormatCharacters, {
    message:
      "an id must not contain invisible format characters (Unicode category Cf, e.g. U+200B zero-width space, U+202E right-to-left override)"
  }),
  Schema.isPattern(noReplacementCharacter, {
    message: "an id must not contain U+FFFD, the replacement character (was the request valid UTF-8?)"
  })
)

/**
 * An id as history may hold it: the rule before 0.3.0 (1 to 200 characters, no control
 * characters, no unpaired surrogates). For what is read back from the store, never for new ids.
 *
 * @category schemas
 * @since 0.3.0
 */
export const RecordedId = Schema.String.check(
  Schema.isMinLength(1, { message: "an id must not be empty" }),
  Schema.isMaxLength(200, { message: "an id must be at most 200 characters long" }),
  Schema.isPattern(plainText, { message: "an id must not contain control characters or unpaired surrogates" })
)

/**
 * The id of an order; its stream is `Order-<id>`.
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
 * The id of a product; its stock's stream is `Inventory-<id>`.
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
