/**
 * A position in the global log: an opaque, totally ordered checkpoint value.
 *
 * It is the pair (transaction id, global position) that a gap-safe reader orders by. Its text
 * form pads both numbers to 20 digits, so positions compare correctly as plain strings (in SQL,
 * in Kafka headers, in a URL). Stores that have no transactions use the global position for both.
 * Each part is at most 2^63 - 1 (a PostgreSQL bigint), since 0.3.0.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** A regular expression source for fixed-width decimal strings of at most `max` (same width). */
const atMost = (max: string): string => {
  const first = max[0] ?? "0"
  const rest = max.slice(1)
  if (rest.length === 0) return `[0-${first}]`
  const below = first === "0" ? "" : `[0-${Number(first) - 1}]\\d{${rest.length}}|`
  return `(?:${below}${first}${atMost(rest)})`
}

// each part is a PostgreSQL bigint (at most 2^63 - 1), zero-padded to 20 digits: a larger one
// would overflow in SQL, so it is refused when decoded (400), never sent to the store
const part = `0${atMost("9223372036854775807")}`
const pattern = new RegExp(`^${part}-${part}$`)

/**
 * @category schemas
 * @since 0.1.0
 */
export const Position = Schema.String.check(
  Schema.isPattern(pattern, {
    description: "a position: 20 digits, '-', 20 digits, each part at most 9223372036854775807",
    message: "a position is 20 digits, '-', 20 digits, each part at most 9223372036854775807"
  })
).pipe(Schema.brand("@eventline/Position"))

/**
 * @category models
 * @since 0.1.0
 */
export type Position = typeof Position.Type

const pad = (n: bigint): string => n.toString().padStart(20, "0")

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (transactionId: bigint, globalPosition: bigint): Position =>
  `${pad(transactionId)}-${pad(globalPosition)}` as Position

/**
 * Before every event: reading after it reads the whole log.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start: Position = make(0n, 0n)

/**
 * @category getters
 * @since 0.1.0
 */
export const transactionId = (position: Position): bigint => BigInt(position.slice(0, 20))

/**
 * @category getters
 * @since 0.1.0
 */
export const globalPosition = (position: Position): bigint => BigInt(position.slice(21))

/**
 * @category ordering
 * @since 0.1.0
 */
export const compare = (a: Position, b: Position): -1 | 0 | 1 => (a < b ? -1 : a > b ? 1 : 0)
