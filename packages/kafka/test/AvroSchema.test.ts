/**
 * Avro schemas derived from Effect Schemas: the Order and Inventory events (golden Avro JSON),
 * the mapping rules one by one, and the shapes that have no Avro type failing with the field's
 * path.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventEnvelope } from "@eventline/core"
import { InventoryEvent } from "@eventline/orders/InventoryEvent"
import { OrderEvent } from "@eventline/orders/OrderEvent"
import avro from "avsc"
import { Result, Schema } from "effect"
import { AvroSchema } from "../src/index.ts"

const derive = (schema: Schema.Top, name = "Test") => {
  const result = AvroSchema.fromSchema(schema, name, { namespace: "test" })
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

const unsupported = (schema: Schema.Top): AvroSchema.UnsupportedSchema => {
  const result = AvroSchema.fromSchema(schema, "Test", { namespace: "test" })
  if (Result.isSuccess(result))
    throw new Error(`expected UnsupportedSchema, got ${JSON.stringify(result.success.schema)}`)
  return result.failure
}

const schemaOf = (schema: Schema.Top, name: string, namespace: string): unknown => {
  const result = AvroSchema.fromSchema(schema, name, { namespace })
  if (Result.isFailure(result)) throw result.failure
  return result.success.schema
}

const timestampMillis = { type: "long", logicalType: "timestamp-millis" }

describe("AvroSchema", () => {
  it("derives the Order events: a union of records named after the tags", () => {
    assert.deepStrictEqual(schemaOf(OrderEvent, "OrderEvent", "eventline.orders"), [
      {
        type: "record",
        name: "OrderCreated",
        namespace: "eventline.orders",
        fields: [
          { name: "customerId", type: "string" },
          { name: "currency", type: "string", default: "EUR" },
          {
            name: "items",
            type: {
              type: "array",
              items: {
                type: "record",
                name: "OrderCreated_items_item",
                namespace: "eventline.orders",
                fields: [
                  { name: "productId", type: "string" },
                  { name: "quantity", type: "long" },
                  { name: "price", type: "long" }
                ]
              }
            }
          },
          { name: "totalAmount", type: "long" }
        ]
      },
      {
        type: "record",
        name: "OrderConfirmed",
        namespace: "eventline.orders",
        fields: [{ name: "confirmedAt", type: timestampMillis }]
      },
      {
        type: "record",
        name: "OrderCancelled",
        namespace: "eventline.orders",
        fields: [
          { name: "reason", type: "string" },
          { name: "cancelledAt", type: timestampMillis }
        ]
      }
    ])
  })

  it("derives the Inventory events", () => {
    const record = (name: string, fields: ReadonlyArray<object>) => ({
      type: "record",
      name,
      namespace: "eventline.inventory",
      fields
    })
    const orderQuantity = [
      { name: "orderId", type: "string" },
      { name: "quantity", type: "long" }
    ]
    assert.deepStrictEqual(schemaOf(InventoryEvent, "InventoryEvent", "eventline.inventory"), [
      record("StockRestocked", [{ name: "quantity", type: "long" }]),
      record("StockReserved", orderQuantity),
      record("StockReleased", orderQuantity),
      record("StockCommitted", orderQuantity),
      record("StockReturned", orderQuantity)
    ])
  })

  it("derives the envelope: RecordedEvent's fields, metadata as a record, data as the events' union", () => {
    const derived = AvroSchema.envelope(OrderEvent, "OrderEnvelope", { namespace: "eventline.orders" })
    assert.isTrue(Result.isSuccess(derived))
    if (Result.isFailure(derived)) return
    const schema = derived.success.schema as {
      readonly fields: ReadonlyArray<{ readonly name: string; readonly type: unknown }>
    }
    assert.deepStrictEqual(
      schema.fields.map((field) => field.name),
      ["eventId", "streamId", "streamType", "schemaVersion", "version", "position", "metadata", "data"]
    )
    assert.deepStrictEqual(schema.fields.find((field) => field.name === "metadata")?.type, {
      type: "record",
      name: "OrderEnvelopeMetadata",
      namespace: "eventline.orders",
      fields: [
        { name: "correlationId", type: "string" },
        { name: "causationId", type: ["null", "string"], default: null },
        { name: "occurredAt", type: timestampMillis },
        { name: "extra", type: ["null", "string"], default: null, doc: "the other metadata keys, as JSON" }
      ]
    })
    // avsc accepts it as an Avro schema
    avro.Type.forSchema(derived.success.schema as avro.Schema, { wrapUnions: true })
  })

  it("maps optional, nullable, bounded integers, literals, booleans, doubles and defaults", () => {
    const schema = Schema.Struct({
      note: Schema.optionalKey(Schema.String),
      maybe: Schema.optional(Schema.Number),
      parent: Schema.NullOr(Schema.String),
      small: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 })),
      big: Schema.Int,
      ratio: Schema.Number,
      flag: Schema.Boolean,
      kind: Schema.Literal("fixed"),
      status: Schema.Literals(["open", "closed"]),
      label: Schema.Literals(["a-b", "c d"]),
      currency: Schema.String.annotate({ default: "EUR" })
    })
    assert.deepStrictEqual(derive(schema).schema, {
      type: "record",
      name: "Test",
      namespace: "test",
      fields: [
        { name: "note", type: ["null", "string"], default: null },
        { name: "maybe", type: ["null", "double"], default: null },
        { name: "parent", type: ["null", "string"] },
        { name: "small", type: "int" },
        { name: "big", type: "long" },
        { name: "ratio", type: "double" },
        { name: "flag", type: "boolean" },
        { name: "kind", type: "string" },
        { name: "status", type: { type: "enum", name: "Test_status", namespace: "test", symbols: ["open", "closed"] } },
        // not Avro names: plain strings
        { name: "label", type: "string" },
        { name: "currency", type: "string", default: "EUR" }
      ]
    })
  })

  it("converts values both ways, keeping absent optional keys absent", () => {
    const schema = Schema.Struct({
      note: Schema.optionalKey(Schema.String),
      parent: Schema.NullOr(Schema.String),
      at: EventEnvelope.Timestamp
    })
    const derived = derive(schema)
    const type = avro.Type.forSchema(derived.schema as avro.Schema, { wrapUnions: true })
    for (const value of [
      { parent: null, at: "2026-11-27T10:00:00.123Z" },
      { note: "n", parent: "p", at: "0001-01-01T00:00:00.000Z" }
    ]) {
      const decoded = derived.fromAvro(type.fromBuffer(type.toBuffer(derived.toAvro(value, ""))))
      assert.deepStrictEqual(decoded, value)
    }
    // a timestamp without a fraction comes back with milliseconds: the same instant
    const whole = derived.fromAvro(
      type.fromBuffer(type.toBuffer(derived.toAvro({ parent: null, at: "2026-11-27T10:00:00Z" }, "")))
    )
    assert.deepStrictEqual(whole, { parent: null, at: "2026-11-27T10:00:00.000Z" })
  })

  it("refuses values that do not fit, naming the field", () => {
    const derived = derive(
      Schema.Struct({ at: EventEnvelope.Timestamp, items: Schema.Array(Schema.Struct({ n: Schema.Int })) })
    )
    assert.throws(
      () => derived.toAvro({ at: "2026-11-27T10:00:00.123456Z", items: [] }, ""),
      /at: timestamp-millis cannot carry microseconds/
    )
    assert.throws(
      () => derived.toAvro({ at: "2026-11-27T10:00:00Z", items: [{ n: 1.5 }] }, ""),
      /items\[0\]\.n: expected an integer/
    )
    assert.throws(() => derived.toAvro({ at: "2026-11-27T10:00:00Z" }, ""), /items: is missing/)
  })

  it("fails at derivation on shapes with no Avro type, naming the field path", () => {
    const cases: ReadonlyArray<readonly [Schema.Top, string, RegExp]> = [
      [Schema.Struct({ payload: Schema.Json }), "payload", /has no Avro mapping|arbitrary keys|tagged unions/],
      [Schema.Struct({ tags: Schema.Record(Schema.String, Schema.String) }), "tags", /arbitrary keys/],
      [Schema.Struct({ pair: Schema.Tuple([Schema.String, Schema.Number]) }), "pair", /tuples/],
      [Schema.Struct({ id: Schema.Union([Schema.String, Schema.Number]) }), "id", /tagged unions/],
      [Schema.Struct({ n: Schema.BigInt }), "n", /BigInt/],
      [
        Schema.TaggedUnion({ A: { lines: Schema.Array(Schema.Struct({ extra: Schema.Unknown })) } }),
        "A.lines[].extra",
        /Unknown/
      ],
      [Schema.Struct({ "not-a-name": Schema.String }), "not-a-name", /not an Avro field name/]
    ]
    for (const [schema, path, reason] of cases) {
      const error = unsupported(schema)
      assert.strictEqual(error.path, path)
      assert.match(error.reason, reason)
      assert.include(error.message, `no Avro schema for ${path}`)
    }
  })
})
