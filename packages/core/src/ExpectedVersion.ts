/**
 * What an append expects of the stream it writes to. Stream versions count from 1; a stream
 * that does not exist has version 0.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * @category schemas
 * @since 0.1.0
 */
export const ExpectedVersion = Schema.TaggedUnion({
  /** No check at all. */
  Any: {},
  /** The stream must not exist yet. */
  NoStream: {},
  /** The stream must exist, at any version. */
  StreamExists: {},
  /** The stream must be exactly at this version (0 = no stream). */
  Exact: { version: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) }
})

/**
 * @category models
 * @since 0.1.0
 */
export type ExpectedVersion = typeof ExpectedVersion.Type

/**
 * @category constructors
 * @since 0.1.0
 */
export const Any: ExpectedVersion = ExpectedVersion.cases.Any.make({})

/**
 * @category constructors
 * @since 0.1.0
 */
export const NoStream: ExpectedVersion = ExpectedVersion.cases.NoStream.make({})

/**
 * @category constructors
 * @since 0.1.0
 */
export const StreamExists: ExpectedVersion = ExpectedVersion.cases.StreamExists.make({})

/**
 * The stream must be exactly at `version` (0 = no stream). Throws on a version that is not a
 * non-negative integer, as the schema's `make` does; checked by hand because it runs on every
 * command (the schema's constructor cost ~18 µs per append).
 *
 * @category constructors
 * @since 0.1.0
 */
export const exact = (version: number): ExpectedVersion => {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(`an expected version is a non-negative integer, got ${version}`)
  }
  return { _tag: "Exact", version }
}

/**
 * Whether a stream at `actual` (0 = absent) satisfies the expectation.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isSatisfiedBy = (expected: ExpectedVersion, actual: number): boolean => {
  switch (expected._tag) {
    case "Any":
      return true
    case "NoStream":
      return actual === 0
    case "StreamExists":
      return actual > 0
    case "Exact":
      return actual === expected.version
  }
}

/**
 * A short text form for errors and logs: `any`, `no-stream`, `stream-exists` or the number.
 *
 * @category formatting
 * @since 0.1.0
 */
export const format = (expected: ExpectedVersion): string => {
  switch (expected._tag) {
    case "Any":
      return "any"
    case "NoStream":
      return "no-stream"
    case "StreamExists":
      return "stream-exists"
    case "Exact":
      return String(expected.version)
  }
}
