/**
 * Entity tags for streams. The ETag of a response about one stream is its version, `"3"`;
 * `If-Match: "3"` (or `W/"3"`) on a command turns into `Exact(3)`, and `If-Match: *` asks only
 * that the stream exists. `If-None-Match` on a read answers 304 when nothing changed.
 *
 * @since 0.1.0
 */
import { Effect, Schema, SchemaGetter, SchemaIssue } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export type Precondition = { readonly _tag: "Version"; readonly version: number } | { readonly _tag: "Exists" }

const entityTag = /^\s*(?:W\/)?"(\d{1,9})"\s*$/

/**
 * The ETag of a stream version.
 *
 * @category constructors
 * @since 0.1.0
 */
export const etag = (version: number): string => `"${version}"`

/**
 * Parse an `If-Match` value: one entity tag holding a version, or `*`.
 *
 * @category parsing
 * @since 0.1.0
 */
export const parseIfMatch = (value: string): Precondition | undefined => {
  if (value.trim() === "*") return { _tag: "Exists" }
  const match = entityTag.exec(value)
  return match === null ? undefined : { _tag: "Version", version: Number(match[1]) }
}

const PreconditionType = Schema.Union([
  Schema.TaggedStruct("Version", { version: Schema.Int }),
  Schema.TaggedStruct("Exists", {})
])

/**
 * The `If-Match` header as a schema: `"<version>"`, `W/"<version>"` or `*`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const IfMatch = Schema.String.pipe(
  Schema.decodeTo(PreconditionType, {
    decode: SchemaGetter.transformEffect((value: string) => {
      const parsed = parseIfMatch(value)
      return parsed === undefined
        ? Effect.fail(
            new SchemaIssue.InvalidValue({ message: 'expected one entity tag with the stream version, like "3", or *' })
          )
        : Effect.succeed(parsed)
    }),
    encode: SchemaGetter.transform((precondition: typeof PreconditionType.Type) =>
      precondition._tag === "Exists" ? "*" : etag(precondition.version)
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
    return match !== null && Number(match[1]) === version
  })
}
