/**
 * The Confluent Schema Registry client against a real registry (scripts/registry: Apicurio
 * Registry's Confluent API): registration and ids, schemas by id, compatibility levels, the
 * OrderCreated v1 -> v2 change accepted under BACKWARD and an incompatible one refused with the
 * registry's reason.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventEnvelope } from "@eventline/core"
import { OrderCreatedV1 } from "@eventline/orders/OrderEvent"
import { Effect, Option, Result, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { AvroSchema, SchemaRegistry } from "../src/index.ts"
import { orderEventsV1, orderEventsV2WithDefault, RegistryTest } from "./registry.ts"
import { unique } from "./utils.ts"

/** OrderCreated gains a field without a default: a v2 reader cannot read v1 data. */
const orderEventsV2NoDefault = Schema.TaggedUnion({
  OrderCreated: { ...OrderCreatedV1.fields, currency: Schema.String },
  OrderConfirmed: { confirmedAt: EventEnvelope.Timestamp },
  OrderCancelled: { reason: Schema.String, cancelledAt: EventEnvelope.Timestamp }
})

const envelopeText = (events: Schema.Top): string => {
  const derived = AvroSchema.envelope(events, "OrderEnvelope", { namespace: "eventline.orders" })
  if (Result.isFailure(derived)) throw derived.failure
  return JSON.stringify(derived.success.schema)
}

describe("SchemaRegistry", () => {
  it.live("registers a subject's schema: an id, the same one again for the same schema", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.SchemaRegistry
      const subject = unique("eventline-test-register-value")
      const schema = envelopeText(orderEventsV1)
      const id = yield* registry.register(subject, schema)
      assert.isTrue(Number.isInteger(id) && id > 0)
      assert.strictEqual(yield* registry.register(subject, schema), id)
      // the registry hands back the same schema (as JSON; it may reformat the text)
      assert.deepStrictEqual(JSON.parse(yield* registry.schemaById(id)), JSON.parse(schema))
    }).pipe(Effect.provide(RegistryTest))
  )

  it.live("sets and reads a subject's compatibility level", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.SchemaRegistry
      const subject = unique("eventline-test-config-value")
      yield* registry.setCompatibility(subject, "BACKWARD")
      assert.deepStrictEqual(yield* registry.compatibility(subject), Option.some("BACKWARD" as const))
    }).pipe(Effect.provide(RegistryTest))
  )

  it.live("BACKWARD: accepts OrderCreated v1 -> v2 (a field added with a default)", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.SchemaRegistry
      const subject = unique("eventline-test-backward-value")
      yield* registry.setCompatibility(subject, "BACKWARD")
      const v1 = yield* registry.register(subject, envelopeText(orderEventsV1))
      const check = yield* registry.checkCompatibility(subject, envelopeText(orderEventsV2WithDefault))
      assert.deepStrictEqual(check, { compatible: true, messages: [] })
      const v2 = yield* registry.register(subject, envelopeText(orderEventsV2WithDefault))
      assert.notStrictEqual(v2, v1)
    }).pipe(Effect.provide(RegistryTest))
  )

  it.live("BACKWARD: refuses a field added without a default, with the registry's reason", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.SchemaRegistry
      const subject = unique("eventline-test-refused-value")
      yield* registry.setCompatibility(subject, "BACKWARD")
      yield* registry.register(subject, envelopeText(orderEventsV1))
      const check = yield* registry.checkCompatibility(subject, envelopeText(orderEventsV2NoDefault))
      assert.isFalse(check.compatible)
      // Apicurio names the schema path: field 7 (data), branch 0 (OrderCreated)
      assert.isTrue(
        check.messages.some((message) => message.includes("/fields/7/type/0")),
        check.messages.join("; ")
      )
      const refused = yield* registry.register(subject, envelopeText(orderEventsV2NoDefault)).pipe(Effect.flip)
      assert.strictEqual(refused._tag, "IncompatibleSchema")
      if (refused._tag !== "IncompatibleSchema") return
      assert.strictEqual(refused.subject, subject)
      // the registry's own reason, passed through
      assert.include(refused.reason, "/fields/7/type/0")
      assert.include(refused.message, `not compatible with subject '${subject}'`)
    }).pipe(Effect.provide(RegistryTest))
  )

  it.live("fails with SchemaRegistryError on an unknown id and on an unreachable registry", () =>
    Effect.gen(function* () {
      const registry = yield* SchemaRegistry.SchemaRegistry
      const missing = yield* registry.schemaById(2_000_000_000).pipe(Effect.flip)
      assert.strictEqual(missing._tag, "SchemaRegistryError")
      assert.strictEqual(missing.status, 404)

      const nowhere = yield* SchemaRegistry.make({ url: "http://127.0.0.1:1/apis/ccompat/v7" }).pipe(
        Effect.provide(FetchHttpClient.layer)
      )
      const unreachable = yield* nowhere.schemaById(1).pipe(Effect.flip)
      assert.strictEqual(unreachable._tag, "SchemaRegistryError")
      assert.isUndefined(unreachable.status)
    }).pipe(Effect.provide(RegistryTest))
  )
})
