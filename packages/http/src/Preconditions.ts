/**
 * Entity tags for streams. The ETag of a response about one stream is its version, `"3"`;
 * `If-Match: "3"` on a command turns into `Exact(3)`, and `If-Match: *` asks only that the stream
 * exists. If-Match compares strongly (RFC 9110 section 13.1.1): a weak tag `W/"3"` never matches,
 * so a command carrying one fails its precondition (412). `If-None-Match` on a read compares
 * weakly and answers 304 when nothing changed.
 *
 * @since 0.1.0
 */
import { Effect, Schema, SchemaGetter, SchemaIssue } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export type Precondition =
  | { readonly _tag: "Version"; readonly version: number }
  | { readonly _tag: "Exists" }
  /** A weak entity tag: under If-Match it never matches. */
  | { readonly _tag: "Weak"; readonly version: number }

const entityTag = /^\s*(W\/)?"(\d{1,9})"\s*$/

/**
 * The ETag of a stream version.
 *
 * @category constructors
 * @since 0.1.0
 */
export const etag = (version: number): string => `"${version}"`

/**
 * Read an `If-Match` value lexically: the version one entity tag names (weak or strong), or `*`.
 * It does not say whether the tag was weak; to evaluate the precondition use `ifMatch`.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parseIfMatch = (value: string): Exclude<Precondition, { readonly _tag: "Weak" }> | undefined => {
  if (value.trim() === "*") return { _tag: "Exists" }
  const match = entityTag.exec(value)
  return match === null ? undefined : { _tag: "Version", version: Number(match[2]) }
}

/**
 * Parse an `If-Match` value for the strong comparison: `"3"` is `Version`, `W/"3"` is `Weak`
 * (it never matches), `*` is `Exists`.
 *
 * @category parsing
 * @since 0.2.0
 */
export const ifMatch = (value: string): Precondition | undefined => {
  if (value.trim() === "*") return { _tag: "Exists" }
  const match = entityTag.exec(value)
  if (match === null) return undefined
  const version = Number(match[2])
  return match[1] === undefined ? { _tag: "Version", version } : { _tag: "Weak", version }
}

const PreconditionType = Schema.Union([
  Schema.TaggedStruct("Version", { version: Schema.Int }),
  Schema.TaggedStruct("Exists", {}),
  Schema.TaggedStruct("Weak", { version: Schema.Int })
])

/**
 * The `If-Match` header as a schema: `"<version>"`, `W/"<version>"` (never matches) or `*`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const IfMatch = Schema.String.pipe(
  Schema.decodeTo(PreconditionType, {
    decode: SchemaGetter.transformEffect((value: string) => {
      const parsed = ifMatch(value)
      return parsed === undefined
        ? Effect.fail(
            new SchemaIssue.InvalidValue({ message: 'expected one entity tag with the stream version, like "3", or *' })
          )
        : Effect.succeed(parsed)
    }),
    encode: SchemaGetter.transform((precondition: typeof PreconditionType.Type) =>
      precondition._tag === "Exists"
        ? "*"
        : precondition._tag === "Weak"
          ? `W/${etag(precondition.version)}`
          : etag(precondition.version)
    )
  })
).annotate({ description: 'The stream version the request expects, as an entity tag: "3", or * (the stream exists).' })

/**
 * Whether an `If-None-Match` value matches the current version (then a read answers 304).
 *
 * @category predicates
 * @since 0.1.0
 */
export const noneMatch = (ifNoneMatch: string | undefined, version: number): boolean => {
  if (ifNoneMatch === undefined) return false
  if (ifNoneMatch.trim() === "*") return true
  return ifNoneMatch.split(",").some((tag) => {
    const match = entityTag.exec(tag)
    return match !== null && Number(match[2]) === version
  })
}
