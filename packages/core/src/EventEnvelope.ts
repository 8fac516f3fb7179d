/**
 * The envelope every event travels in: what a caller appends (`NewEvent`) and what the store
 * hands back once it is committed (`RecordedEvent`, with its stream version and global position).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Position } from "./Position.ts"

/**
 * Text without control characters (Unicode Cc) and without unpaired surrogates (Cs), which are
 * not text: PostgreSQL refuses them and UTF-8 encoders replace them, so two different ids could
 * become one. The class lists what is allowed (exactly `[^\p{Cc}\p{Cs}]`), so that `Arbitrary`
 * generates matching strings directly.
 *
 * @category patterns
 * @since 0.1.0
 */
export const plainText = /^[\u0020-\u007e\u00a0-\ud7ff\ue000-\u{10ffff}]*$/u

/**
 * A stream id: 1 to 200 characters of plain text.
 *
 * @category schemas
 * @since 0.1.0
 */
export const StreamId = Schema.String.check(
  Schema.isMinLength(1, { message: "a stream id must not be empty" }),
  Schema.isMaxLength(200, { message: "a stream id must be at most 200 characters long" }),
  Schema.isPattern(plainText, { message: "a stream id must not contain control characters or unpaired surrogates" })
)

/**
 * A name such as a stream type or an event type: 1 to 100 characters of plain text.
 *
 * @category schemas
 * @since 0.1.0
 */
export const TypeName = Schema.String.check(
  Schema.isMinLength(1, { message: "a type name must not be empty" }),
  Schema.isMaxLength(100, { message: "a type name must be at most 100 characters long" }),
  Schema.isPattern(plainText, { message: "a type name must not contain control characters or unpaired surrogates" })
)

/**
 * An event id: a UUID (version 7 when Eventline makes it).
 *
 * @category schemas
 * @since 0.1.0
 */
export const EventId = Schema.String.check(Schema.isUUID())

/**
 * An ISO-8601 UTC timestamp such as `2026-11-27T10:00:00.000Z`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Timestamp = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/, {
    message: "a timestamp must look like 2026-11-27T10:00:00.000Z"
  }),
  Schema.makeFilter((text: string) => isRealInstant(text), { message: "a timestamp must be a real UTC instant" })
)

const daysInMonth = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * 2026-02-30 matches the pattern but is not a day. Checked with arithmetic on the digits (the
 * pattern has run first): this runs for every event read or sent, and Date parsing was its cost.
 */
const isRealInstant = (text: string): boolean => {
  const year = Number(text.slice(0, 4))
  const month = Number(text.slice(5, 7))
  const day = Number(text.slice(8, 10))
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const lastDay = month === 2 && leap ? 29 : (daysInMonth[month - 1] ?? 0)
  return (
    month >= 1 &&
    day >= 1 &&
    day <= lastDay &&
    Number(text.slice(11, 13)) < 24 &&
    Number(text.slice(14, 16)) < 60 &&
    Number(text.slice(17, 19)) < 60
  )
}

/**
 * Who caused an event and when: the correlation id ties together everything one request set
 * off, the causation id names the message that caused this one. Any other JSON keys are kept.
 *
 * @category schemas
 * @since 0.1.0
 */
export const EventMetadata = Schema.StructWithRest(
  Schema.Struct({
    correlationId: Schema.String,
    causationId: Schema.optionalKey(Schema.String),
    occurredAt: Timestamp
  }),
  [Schema.Record(Schema.String, Schema.Json)]
)

/**
 * @category models
 * @since 0.1.0
 */
export type EventMetadata = typeof EventMetadata.Type

/**
 * An event to append. `eventId` may be given by the caller (for idempotent retries); the store
 * makes a UUID v7 otherwise.
 *
 * @category schemas
 * @since 0.1.0
 */
export const NewEvent = Schema.Struct({
  eventId: Schema.optionalKey(EventId),
  type: TypeName,
  schemaVersion: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  data: Schema.Json,
  metadata: EventMetadata
})

/**
 * @category models
 * @since 0.1.0
 */
export type NewEvent = typeof NewEvent.Type

/**
 * A committed event.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RecordedEvent = Schema.Struct({
  eventId: EventId,
  streamId: StreamId,
  streamType: TypeName,
  type: TypeName,
  schemaVersion: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  data: Schema.Json,
  metadata: EventMetadata,
  /** The stream revision, from 1. */
  version: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** The place in the global log; opaque, ordered. */
  position: Position
})

/**
 * @category models
 * @since 0.1.0
 */
export type RecordedEvent = typeof RecordedEvent.Type
