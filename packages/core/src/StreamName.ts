/**
 * Stream names with a category (KurrentDB's convention): the stored stream id is
 * `<category>-<id>`, the category chosen by the aggregate or process manager that owns the
 * stream, the id by whoever names the entity (often a client). A category never contains `-`, so
 * the first `-` splits a stream id back into its two parts, whatever the id contains: a client
 * that picks the id `Fulfilment-42` gets the stream `Order-Fulfilment-42`, never someone else's
 * `Fulfilment-42`.
 *
 * @since 0.3.0
 */
import { Option, Schema } from "effect"

/**
 * What separates the category from the id.
 *
 * @category constants
 * @since 0.3.0
 */
export const separator = "-"

/**
 * A category: 1 to 50 characters, a letter first, then letters, digits or `_` (no `-`, which
 * separates it from the id).
 *
 * @category schemas
 * @since 0.3.0
 */
export const Category = Schema.String.check(
  Schema.isPattern(/^[A-Za-z][A-Za-z0-9_]{0,49}$/, {
    message: "a category must be 1 to 50 letters, digits or '_', starting with a letter (no '-')"
  })
)

/**
 * A stream id's two parts.
 *
 * @category models
 * @since 0.3.0
 */
export interface StreamName {
  readonly category: string
  readonly id: string
}

/**
 * The stream id of `id` in `category`. The category is trusted (it comes from code, checked by
 * `Aggregate.make` / `ProcessManager.make`); the id may be anything.
 *
 * @category constructors
 * @since 0.3.0
 */
export const make = (category: string, id: string): string => `${category}${separator}${id}`

/**
 * A stream id's category and id; none when it has no category (no `-`, or nothing before it).
 *
 * @category parsing
 * @since 0.3.0
 */
export const parse = (streamId: string): Option.Option<StreamName> => {
  const at = streamId.indexOf(separator)
  return at <= 0 ? Option.none() : Option.some({ category: streamId.slice(0, at), id: streamId.slice(at + 1) })
}

/**
 * The category of a stream id; none when it has none.
 *
 * @category parsing
 * @since 0.3.0
 */
export const categoryOf = (streamId: string): Option.Option<string> =>
  Option.map(parse(streamId), (name) => name.category)

/**
 * The entity id of a stream id in `category`; none when the stream is not in that category.
 *
 * @category parsing
 * @since 0.3.0
 */
export const idOf = (category: string, streamId: string): Option.Option<string> =>
  streamId.startsWith(category + separator) ? Option.some(streamId.slice(category.length + 1)) : Option.none()

/**
 * Whether a stream id is in `category`.
 *
 * @category parsing
 * @since 0.3.0
 */
export const isIn = (category: string, streamId: string): boolean => streamId.startsWith(category + separator)
