/**
 * Avro schemas derived from the events' Effect Schemas, never written by hand: the walk of a
 * Schema's AST gives both the Avro schema and the two conversions between the event's JSON data
 * (as stored) and the value avsc writes.
 *
 * The mapping: structs -> records; tagged unions -> unions of records named after the tag (the
 * `_tag` field is the branch, not a field); optional fields -> `["null", T]` with default null;
 * `NullOr(T)` -> `["null", T]`; integers -> `long` (`int` when the checks bound them within 32
 * bits; amounts in cents are integers, so decimals-as-cents are `long`); other numbers ->
 * `double`; strings and single string literals -> `string`; unions of string literals -> an
 * `enum` (a `string` when a literal is not an Avro name); booleans; arrays;
 * `EventEnvelope.Timestamp` -> `long` with the `timestamp-millis` logical type; a field's `default`
 * annotation becomes its Avro default (how a new field stays BACKWARD compatible). Anything else
 * (records with arbitrary keys, `Json`, tuples, bigints, declarations, ...) fails at start-up
 * with `UnsupportedSchema` naming the field path.
 *
 * @since 0.3.0
 */
import { EventEnvelope } from "@eventline/core"
import { Result, Schema, SchemaAST } from "effect"

/**
 * A Schema shape with no Avro mapping; `path` names the field (`OrderCreated.items[].price`).
 *
 * @category errors
 * @since 0.3.0
 */
export class UnsupportedSchema extends Schema.TaggedError<UnsupportedSchema>()("UnsupportedSchema", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `no Avro schema for ${this.path}: ${this.reason}`
  }
}

/**
 * An Avro schema as JSON (what avsc's `Type.forSchema` and the registry take).
 *
 * @category models
 * @since 0.3.0
 */
export type AvroJson = string | number | boolean | null | ReadonlyArray<AvroJson> | { readonly [key: string]: AvroJson }

/**
 * A value that does not fit the derived schema (`path` names the field).
 *
 * @category errors
 * @since 0.3.0
 */
export class AvroValueError extends Error {
  /**
   * The field, e.g. `data.items[0].price`.
   *
   * @since 0.3.0
   */
  readonly path: string
  /**
   * Why the value does not fit.
   *
   * @since 0.3.0
   */
  readonly reason: string
  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`)
    this.path = path
    this.reason = reason
  }
}

/**
 * A derived Avro type with its conversions: `toAvro` takes the JSON data (throws
 * `AvroValueError` when it does not fit) and gives the value avsc writes (unions wrapped, as
 * avsc's `wrapUnions` expects); `fromAvro` is its inverse.
 *
 * @category models
 * @since 0.3.0
 */
export interface Derived {
  readonly schema: AvroJson
  /** The name avsc gives this type's branch in a wrapped union. */
  readonly branch: string
  readonly toAvro: (value: unknown, path: string) => unknown
  readonly fromAvro: (value: unknown) => unknown
}

/**
 * @category models
 * @since 0.3.0
 */
export interface DeriveOptions {
  /** The Avro namespace of the named types (records, enums). Default: `eventline`. */
  readonly namespace?: string | undefined
}

const avroName = /^[A-Za-z_][A-Za-z0-9_]*$/
const int32 = { min: -2147483648, max: 2147483647 }

const fail = (path: string, reason: string): never => {
  throw new UnsupportedSchema({ path, reason })
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The bounds and integer-ness the checks state (through their arbitrary constraints). */
const numberFacts = (ast: SchemaAST.AST): { integer: boolean; min: number; max: number } => {
  let integer = false
  let min = Number.NEGATIVE_INFINITY
  let max = Number.POSITIVE_INFINITY
  const visit = (check: SchemaAST.Check<unknown>): void => {
    if (check._tag === "FilterGroup") {
      for (const inner of check.checks) visit(inner)
    }
    const constraint = check.annotations?.arbitraryConstraint as
      | { readonly number?: unknown; readonly minimum?: unknown; readonly maximum?: unknown }
      | undefined
    if (constraint === undefined) return
    if (constraint.number === "integer") integer = true
    if (typeof constraint.minimum === "number") min = Math.max(min, constraint.minimum)
    if (typeof constraint.maximum === "number") max = Math.min(max, constraint.maximum)
  }
  for (const check of ast.checks ?? []) visit(check)
  return { integer, min, max }
}

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/

/** ISO-8601 UTC text -> epoch milliseconds; refuses sub-millisecond digits (they would be lost). */
const timestampToMillis = (text: unknown, path: string): number => {
  const match = typeof text === "string" ? timestampPattern.exec(text) : null
  if (match === null) throw new AvroValueError(path, "expected a timestamp such as 2026-11-27T10:00:00.000Z")
  const fraction = (match[7] ?? "").padEnd(6, "0")
  if (fraction.slice(3) !== "000") {
    throw new AvroValueError(path, "timestamp-millis cannot carry microseconds")
  }
  // setUTCFullYear: Date.UTC would read the years 0-99 as 1900-1999
  const date = new Date(0)
  date.setUTCFullYear(Number(match[1]), Number(match[2]) - 1, Number(match[3]))
  date.setUTCHours(Number(match[4]), Number(match[5]), Number(match[6]), Number(fraction.slice(0, 3)))
  return date.getTime()
}

const millisToTimestamp = (millis: unknown): string => new Date(Number(millis)).toISOString()

interface Walk {
  readonly namespace: string
  readonly names: Set<string>
}

const named = (walk: Walk, name: string, path: string): string => {
  if (!avroName.test(name)) fail(path, `'${name}' is not an Avro name`)
  if (walk.names.has(name)) fail(path, `the name '${name}' is used twice`)
  walk.names.add(name)
  return name
}

const primitive = (
  type: string,
  check: (value: unknown) => boolean,
  expected: string,
  logical?: AvroJson
): Derived => ({
  schema: logical ?? type,
  branch: type,
  toAvro: (value, path) => {
    if (!check(value)) throw new AvroValueError(path, `expected ${expected}`)
    return value
  },
  fromAvro: (value) => value
})

const stringType = primitive("string", (value) => typeof value === "string", "a string")

/** A union containing `null` (and/or `undefined`) and one other type: `["null", T]`. */
const nullable = (inner: Derived, path: string): Derived => {
  if (Array.isArray(inner.schema))
    fail(path, "an optional or nullable union is not supported (Avro unions do not nest)")
  return {
    schema: ["null", inner.schema],
    branch: "union",
    toAvro: (value, at) => (value === null || value === undefined ? null : { [inner.branch]: inner.toAvro(value, at) }),
    fromAvro: (value) => (isPlainObject(value) ? inner.fromAvro(value[inner.branch]) : null)
  }
}

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`)

const derive = (ast: SchemaAST.AST, path: string, name: string, walk: Walk): Derived => {
  if (ast === EventEnvelope.Timestamp.ast) {
    return {
      schema: { type: "long", logicalType: "timestamp-millis" },
      branch: "long",
      toAvro: timestampToMillis,
      fromAvro: millisToTimestamp
    }
  }
  if (ast.encoding !== undefined) return derive(SchemaAST.toEncoded(ast), path, name, walk)
  switch (ast._tag) {
    case "String":
      return stringType
    case "Boolean":
      return primitive("boolean", (value) => typeof value === "boolean", "a boolean")
    case "Number": {
      const facts = numberFacts(ast)
      if (!facts.integer) return primitive("double", (value) => typeof value === "number", "a number")
      const type = facts.min >= int32.min && facts.max <= int32.max ? "int" : "long"
      return primitive(type, (value) => Number.isSafeInteger(value), "an integer")
    }
    case "Literal": {
      const literal = ast.literal
      if (typeof literal === "string") return primitive("string", (value) => value === literal, JSON.stringify(literal))
      if (typeof literal === "boolean") return primitive("boolean", (value) => value === literal, String(literal))
      if (typeof literal === "number") {
        return Number.isSafeInteger(literal)
          ? primitive("long", (value) => value === literal, String(literal))
          : primitive("double", (value) => value === literal, String(literal))
      }
      return fail(path, "a bigint literal has no Avro type")
    }
    case "Arrays": {
      if (ast.elements.length > 0 || ast.rest.length !== 1)
        fail(path, "tuples have no Avro type (only arrays of one type)")
      const items = derive(ast.rest[0] as SchemaAST.AST, `${path}[]`, `${name}_item`, walk)
      return {
        schema: { type: "array", items: items.schema },
        branch: "array",
        toAvro: (value, at) => {
          if (!Array.isArray(value)) throw new AvroValueError(at, "expected an array")
          return value.map((item, index) => items.toAvro(item, `${at}[${index}]`))
        },
        fromAvro: (value) => (value as ReadonlyArray<unknown>).map(items.fromAvro)
      }
    }
    case "Objects":
      return record(ast, path, name, walk, undefined)
    case "Union":
      return union(ast, path, name, walk)
    case "Suspend":
      return fail(path, "recursive schemas are not supported")
    default:
      return fail(
        path,
        `${ast._tag === "Declaration" ? "a declared type" : `the ${ast._tag} type`} has no Avro mapping`
      )
  }
}

const isOptional = (ast: SchemaAST.AST): boolean => ast.context?.isOptional === true

const withoutUndefined = (ast: SchemaAST.AST): SchemaAST.AST => {
  if (ast._tag !== "Union") return ast
  const types = ast.types.filter((type) => type._tag !== "Undefined")
  return types.length === 1 ? (types[0] as SchemaAST.AST) : ast
}

/** A struct as a record; `tag` is the literal `_tag` to drop (a branch of a tagged union). */
const record = (ast: SchemaAST.Objects, path: string, name: string, walk: Walk, tag: string | undefined): Derived => {
  if (ast.indexSignatures.length > 0) fail(path, "records with arbitrary keys have no Avro type")
  const recordName = named(walk, name, path)
  const fields: Array<{
    readonly key: string
    readonly derived: Derived
    readonly optional: boolean
    readonly default?: AvroJson
  }> = []
  for (const property of ast.propertySignatures) {
    if (typeof property.name !== "string") fail(path, "symbol keys have no Avro field")
    const key = property.name as string
    if (key === "_tag" && tag !== undefined) continue
    const at = join(path, key)
    if (!avroName.test(key)) fail(at, `'${key}' is not an Avro field name`)
    const optional = isOptional(property.type)
    const inner = derive(withoutUndefined(property.type), at, `${recordName}_${key}`, walk)
    // a `default` annotation becomes the Avro default: what lets a reader of this version read
    // data written before the field existed (BACKWARD compatibility)
    const annotated = defaultOf(property.type)
    if (annotated !== undefined && !optional) {
      if (Array.isArray(inner.schema)) fail(at, "a default on a union field is not supported")
      fields.push({ key, derived: inner, optional, default: inner.toAvro(annotated, at) as AvroJson })
    } else {
      fields.push({ key, derived: optional ? nullable(inner, at) : inner, optional })
    }
  }
  const fullName = `${walk.namespace}.${recordName}`
  return {
    schema: {
      type: "record",
      name: recordName,
      namespace: walk.namespace,
      fields: fields.map((field) =>
        field.optional
          ? { name: field.key, type: field.derived.schema, default: null }
          : field.default !== undefined
            ? { name: field.key, type: field.derived.schema, default: field.default }
            : { name: field.key, type: field.derived.schema }
      )
    },
    branch: fullName,
    toAvro: (value, at) => {
      if (!isPlainObject(value)) throw new AvroValueError(at, "expected an object")
      const out: Record<string, unknown> = {}
      for (const { derived, key, optional } of fields) {
        const field = value[key]
        if (field === undefined && !optional) throw new AvroValueError(join(at, key), "is missing")
        out[key] = derived.toAvro(field, join(at, key))
      }
      return out
    },
    fromAvro: (value) => {
      const input = value as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const { derived, key, optional } of fields) {
        const field = derived.fromAvro(input[key])
        // an absent optional key stays absent (optionalKey), not undefined
        if (!(optional && field === null)) out[key] = field
      }
      return out
    }
  }
}

/** The `default` annotation (on a refined schema, `annotate` puts it on the last check). */
const defaultOf = (ast: SchemaAST.AST): unknown => {
  const checks = ast.checks ?? []
  for (let index = checks.length - 1; index >= 0; index--) {
    const annotated = checks[index]?.annotations?.default
    if (annotated !== undefined) return annotated
  }
  return ast.annotations?.default
}

const tagOf = (ast: SchemaAST.AST): string | undefined => {
  if (ast._tag !== "Objects") return undefined
  const tag = ast.propertySignatures.find((property) => property.name === "_tag")?.type
  return tag?._tag === "Literal" && typeof tag.literal === "string" ? tag.literal : undefined
}

const union = (ast: SchemaAST.Union, path: string, name: string, walk: Walk): Derived => {
  const others = ast.types.filter((type) => type._tag !== "Null" && type._tag !== "Undefined")
  if (others.length === 0) fail(path, "a union of only null/undefined has no Avro type")
  if (others.length < ast.types.length) {
    const inner =
      others.length === 1
        ? derive(others[0] as SchemaAST.AST, path, name, walk)
        : union(new SchemaAST.Union(others), path, name, walk)
    return nullable(inner, path)
  }
  if (others.every((type) => type._tag === "Literal" && typeof type.literal === "string")) {
    const symbols = others.map((type) => (type as SchemaAST.Literal).literal as string)
    if (!symbols.every((symbol) => avroName.test(symbol))) {
      return primitive("string", (value) => typeof value === "string" && symbols.includes(value), symbols.join(" | "))
    }
    const enumName = named(walk, name, path)
    return {
      schema: { type: "enum", name: enumName, namespace: walk.namespace, symbols },
      branch: `${walk.namespace}.${enumName}`,
      toAvro: (value, at) => {
        if (typeof value !== "string" || !symbols.includes(value))
          throw new AvroValueError(at, `expected ${symbols.join(" | ")}`)
        return value
      },
      fromAvro: (value) => value
    }
  }
  const tags = others.map(tagOf)
  if (tags.some((tag) => tag === undefined)) {
    return fail(
      path,
      "only tagged unions (structs with a literal _tag), nullable types and string literals map to Avro unions"
    )
  }
  const branches = others.map((type, index) => {
    const tag = tags[index] as string
    return { tag, derived: record(type as SchemaAST.Objects, join(path, tag), tag, walk, tag) }
  })
  return taggedUnion(branches)
}

const taggedUnion = (branches: ReadonlyArray<{ readonly tag: string; readonly derived: Derived }>): Derived => {
  const byTag = new Map(branches.map((branch) => [branch.tag, branch.derived]))
  const byBranch = new Map(branches.map((branch) => [branch.derived.branch, branch]))
  return {
    schema: branches.map((branch) => branch.derived.schema),
    branch: "union",
    toAvro: (value, at) => {
      const tag = isPlainObject(value) ? value._tag : undefined
      const derived = typeof tag === "string" ? byTag.get(tag) : undefined
      if (derived === undefined) throw new AvroValueError(at, `expected one of ${[...byTag.keys()].join(", ")} in _tag`)
      return { [derived.branch]: derived.toAvro(value, at) }
    },
    fromAvro: (value) => {
      const [branch, inner] = Object.entries(value as Record<string, unknown>)[0] ?? []
      const found = branch === undefined ? undefined : byBranch.get(branch)
      if (found === undefined) throw new AvroValueError("", `unknown union branch ${String(branch)}`)
      return { _tag: found.tag, ...(found.derived.fromAvro(inner) as Record<string, unknown>) }
    }
  }
}

/**
 * Derive the Avro type of a Schema (its encoded side: what is stored as JSON). A top-level
 * struct is named `name`; a tagged union's records are named after their tags.
 *
 * @category constructors
 * @since 0.3.0
 */
export const fromSchema = (
  schema: Schema.Top,
  name: string,
  options?: DeriveOptions
): Result.Result<Derived, UnsupportedSchema> => {
  try {
    return Result.succeed(
      derive(schema.ast, "", name, { namespace: options?.namespace ?? "eventline", names: new Set() })
    )
  } catch (error) {
    if (error instanceof UnsupportedSchema) return Result.fail(error)
    throw error
  }
}

/**
 * The Avro type of an event stream's envelope: the `RecordedEvent` fields, `metadata` as a
 * record (its extra keys as JSON text in `extra`), and `data` as the union of the events'
 * records, one per `_tag` (the branch is the event type). Named `<name>` in `namespace`.
 *
 * @category constructors
 * @since 0.3.0
 */
export const envelope = (
  events: Schema.Top,
  name: string,
  options?: DeriveOptions
): Result.Result<Derived, UnsupportedSchema> => {
  const namespace = options?.namespace ?? "eventline"
  const walk: Walk = { namespace, names: new Set() }
  try {
    const data = derive(events.ast, "", name, walk)
    if (!Array.isArray(data.schema)) fail("", "the events must be a tagged union (Schema.TaggedUnion)")
    const metadataName = named(walk, `${name}Metadata`, "metadata")
    const envelopeName = named(walk, name, "")
    const timestamp = derive(EventEnvelope.Timestamp.ast, "metadata.occurredAt", "", walk)
    const optionalString = nullable(stringType, "")
    const long = primitive("long", (value) => Number.isSafeInteger(value), "an integer")
    const int = primitive("int", (value) => Number.isSafeInteger(value), "an integer")
    return Result.succeed({
      schema: {
        type: "record",
        name: envelopeName,
        namespace,
        fields: [
          { name: "eventId", type: "string" },
          { name: "streamId", type: "string" },
          { name: "streamType", type: "string" },
          { name: "schemaVersion", type: "int" },
          { name: "version", type: "long" },
          { name: "position", type: "string" },
          {
            name: "metadata",
            type: {
              type: "record",
              name: metadataName,
              namespace,
              fields: [
                { name: "correlationId", type: "string" },
                { name: "causationId", type: ["null", "string"], default: null },
                { name: "occurredAt", type: timestamp.schema },
                { name: "extra", type: ["null", "string"], default: null, doc: "the other metadata keys, as JSON" }
              ]
            }
          },
          { name: "data", type: data.schema }
        ]
      },
      branch: `${namespace}.${envelopeName}`,
      toAvro: (value, at) => {
        const event = value as EventEnvelope.RecordedEvent
        const { correlationId, causationId, occurredAt, ...extra } = event.metadata
        return {
          eventId: stringType.toAvro(event.eventId, "eventId"),
          streamId: stringType.toAvro(event.streamId, "streamId"),
          streamType: stringType.toAvro(event.streamType, "streamType"),
          schemaVersion: int.toAvro(event.schemaVersion, "schemaVersion"),
          version: long.toAvro(event.version, "version"),
          position: stringType.toAvro(event.position, "position"),
          metadata: {
            correlationId: stringType.toAvro(correlationId, "metadata.correlationId"),
            causationId: optionalString.toAvro(causationId, "metadata.causationId"),
            occurredAt: timestamp.toAvro(occurredAt, "metadata.occurredAt"),
            extra: Object.keys(extra).length === 0 ? null : { string: JSON.stringify(extra) }
          },
          data: data.toAvro({ ...(event.data as object), _tag: event.type }, join(at, "data"))
        }
      },
      fromAvro: (value) => {
        const avro = value as {
          readonly eventId: string
          readonly streamId: string
          readonly streamType: string
          readonly schemaVersion: number
          readonly version: number
          readonly position: string
          readonly metadata: Record<string, unknown>
          readonly data: unknown
        }
        const extra = optionalString.fromAvro(avro.metadata.extra)
        const causationId = optionalString.fromAvro(avro.metadata.causationId)
        const { _tag, ...fields } = data.fromAvro(avro.data) as Record<string, unknown> & { readonly _tag: string }
        return {
          eventId: avro.eventId,
          streamId: avro.streamId,
          streamType: avro.streamType,
          type: _tag,
          schemaVersion: avro.schemaVersion,
          data: fields,
          metadata: {
            ...(typeof extra === "string" ? (JSON.parse(extra) as object) : {}),
            correlationId: avro.metadata.correlationId,
            ...(typeof causationId === "string" ? { causationId } : {}),
            occurredAt: timestamp.fromAvro(avro.metadata.occurredAt)
          },
          version: avro.version,
          position: avro.position
        }
      }
    })
  } catch (error) {
    if (error instanceof UnsupportedSchema) return Result.fail(error)
    throw error
  }
}
