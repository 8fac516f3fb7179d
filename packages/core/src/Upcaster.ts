/**
 * Upcasting: reading events written under an older version of their schema. Each event type
 * whose stored data changed shape declares its current version and a chain of pure steps
 * (v1 -> v2 -> ... -> current). A step is a Schema transformation from the JSON data of one
 * version to the JSON data of the next (`Schema.decodeTo`): decoding is the upcast, encoding the
 * downcast. Stored events are never rewritten; every read of an older version goes through the
 * chain before it is decoded as the current event (`Aggregate.decodeEvent`).
 *
 * ```ts
 * const OrderCreatedV1 = Schema.Struct({ customerId: Schema.String, totalAmount: Schema.Int })
 * const OrderCreatedV2 = Schema.Struct({ ...OrderCreatedV1.fields, currency: Schema.String })
 *
 * const OrderAggregate = Aggregate.make({
 *   // ...
 *   schemaVersion: 1,
 *   upcasters: {
 *     OrderCreated: Upcaster.chain([
 *       OrderCreatedV1.pipe(
 *         Schema.decodeTo(
 *           OrderCreatedV2,
 *           SchemaTransformation.transform({
 *             decode: (v1) => ({ ...v1, currency: "EUR" }),
 *             encode: ({ currency: _, ...v1 }) => v1
 *           })
 *         )
 *       )
 *     ])
 *   }
 * })
 * ```
 *
 * @since 0.3.0
 */
import { Exit, Result, Schema } from "effect"

/**
 * One step of a chain: decodes the stored JSON data of one version (without `_tag`) into the
 * data of the next; `to` is the schema of that next version's data (a `Schema.decodeTo` has it).
 * Its encoding turns the newer data back into the older (a downcast).
 *
 * @category models
 * @since 0.3.0
 */
export interface Upcaster extends Schema.Codec<unknown, unknown> {
  readonly to: Schema.Codec<unknown, unknown>
}

/**
 * The versions of one event type: the current one (written on append) and the steps up to it.
 *
 * @category models
 * @since 0.3.0
 */
export interface Chain {
  /** The version appends write and decoding expects. */
  readonly current: number
  /** The oldest version the chain reads. */
  readonly from: number
  /** `steps[i]` turns the data of version `from + i` into version `from + i + 1`. */
  readonly steps: ReadonlyArray<Upcaster>
}

/**
 * The chains of an aggregate's event types, by event type (`_tag`). An event type without one
 * is written and read at the aggregate's `schemaVersion`, as before 0.3.0.
 *
 * @category models
 * @since 0.3.0
 */
export type Upcasters<Type extends string> = { readonly [K in Type]?: Chain | undefined }

/**
 * A chain from version `from` (default 1): each step reads the version the previous one wrote,
 * so the current version is `from + steps.length`.
 *
 * @category constructors
 * @since 0.3.0
 */
export const chain = (steps: ReadonlyArray<Upcaster>, options?: { readonly from?: number | undefined }): Chain => {
  const from = options?.from ?? 1
  if (!Number.isInteger(from) || from < 1) throw new Error(`an upcaster chain must start at version 1 or later`)
  return { current: from + steps.length, from, steps }
}

const jsonCodecs = new WeakMap<object, Schema.Codec<unknown, Schema.Json>>()

/** A schema's JSON codec, derived once per schema. */
const jsonCodec = (schema: Schema.Codec<unknown, unknown>): Schema.Codec<unknown, Schema.Json> => {
  let codec = jsonCodecs.get(schema)
  if (codec === undefined) {
    codec = Schema.toCodecJson(schema) as Schema.Codec<unknown, Schema.Json>
    jsonCodecs.set(schema, codec)
  }
  return codec
}

/**
 * The stored data of version `version` of the event type `type`, brought to the chain's current
 * version; fails with the reason when the version is newer than the chain knows, when no step
 * reads it (a gap), or when a step refuses the data. Pure.
 *
 * @category upcasting
 * @since 0.3.0
 */
export const upcast = (
  chain: Chain,
  type: string,
  version: number,
  data: Schema.Json
): Result.Result<Schema.Json, string> => {
  if (version > chain.current) {
    return Result.fail(`${type} v${version} is newer than this code knows (v${chain.current})`)
  }
  let current = data
  for (let at = version; at < chain.current; at++) {
    const step = chain.steps[at - chain.from]
    if (at < chain.from || step === undefined) {
      return Result.fail(`${type} v${at} has no upcaster to v${at + 1} (the chain starts at v${chain.from})`)
    }
    const decoded = Schema.decodeUnknownExit(jsonCodec(step))(current)
    if (Exit.isFailure(decoded)) return Result.fail(`${type} v${at} does not upcast to v${at + 1}`)
    const encoded = Schema.encodeUnknownExit(jsonCodec(step.to))(decoded.value)
    if (Exit.isFailure(encoded)) return Result.fail(`${type} v${at + 1} (upcast from v${at}) does not encode`)
    current = encoded.value
  }
  return Result.succeed(current)
}
