/**
 * The Avro codec: the Confluent wire format byte by byte, random Order envelopes round-tripping
 * through a codec registered with a real registry (property), data written under OrderCreated
 * v1 read by the v2 codec, refusals, and a round trip through the broker.
 */
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { EventEnvelope } from "@eventline/core"
import { OrderEvent } from "@eventline/orders/OrderEvent"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Arbitrary, DateTime, Effect, Layer, Result, Schema, Stream } from "effect"
import { AvroCodec, KafkaConsumer, KafkaProducer } from "../src/index.ts"
import { orderEventsV1, orderEventsV2WithDefault, RegistryTest } from "./registry.ts"
import { brokers, envelope, fastGroup, howToProvideKafka, KafkaTest, scopedTopic, unique } from "./utils.ts"

const _execFileAsync = promisify(execFile)
const publishedAt = DateTime.makeUnsafe("2026-11-27T10:00:00.000Z")

const orderCodec = (events: Schema.Top = OrderEvent, subject = unique("eventline-test-orders-value")) =>
  AvroCodec.make({ events, name: "OrderEnvelope", namespace: "eventline.orders", subject })

const recorded = (type: string, data: Schema.Json, version = 1): EventEnvelope.RecordedEvent => ({
  ...envelope("Order-1", version, type, data),
  streamType: "Order"
})

const created = {
  customerId: "c-1",
  currency: "EUR",
  items: [{ productId: "p-1", quantity: 2, price: 1250 }],
  totalAmount: 2500
}

/** The same instant in the form the codec gives back (timestamp-millis: 3 fraction digits). */
const canonical = (timestamp: string): string => new Date(Date.parse(timestamp)).toISOString()

describe("AvroCodec wire format", () => {
  it("frames magic byte 0, the schema id big-endian in 4 bytes, then the body", () => {
    const framed = AvroCodec.frame(0x01020304, Uint8Array.of(0xaa, 0xbb))
    assert.deepStrictEqual([...framed], [0, 1, 2, 3, 4, 0xaa, 0xbb])
    const unframed = AvroCodec.unframe(framed)
    assert.isTrue(Result.isSuccess(unframed))
    if (Result.isSuccess(unframed)) {
      assert.strictEqual(unframed.success.schemaId, 0x01020304)
      assert.deepStrictEqual([...unframed.success.body], [0xaa, 0xbb])
    }
    assert.deepStrictEqual(AvroCodec.unframe(Uint8Array.of(1, 0, 0, 0, 1)), Result.fail("the magic byte is 1, not 0"))
    assert.deepStrictEqual(
      AvroCodec.unframe(Uint8Array.of(0, 0, 1)),
      Result.fail("an Avro message has at least 5 bytes, this one 3")
    )
    assert.strictEqual(AvroCodec.subjectOf("eventline.Order"), "eventline.Order-value")
  })
})

describe("AvroCodec with a registry", () => {
  it.live("encodes key, framed value with the registered id, and the routing headers", () =>
    Effect.gen(function* () {
      const codec = yield* orderCodec()
      const event = recorded("OrderCreated", created)
      const message = yield* codec.encode(event, { publishedAt })
      assert.strictEqual(message.key, "Order-1")
      const value = message.value as Buffer
      assert.strictEqual(value[0], 0)
      assert.strictEqual(value.readUInt32BE(1), codec.schemaId)
      assert.strictEqual(message.headers?.["content-type"], "application/vnd.confluent.avro")
      assert.strictEqual(message.headers?.["event-type"], "OrderCreated")
      assert.strictEqual(message.headers?.["published-at"], "2026-11-27T10:00:00.000Z")
      assert.deepStrictEqual(yield* codec.decode(message), event)
    }).pipe(Effect.provide(RegistryTest))
  )

  it.live("round-trips random Order envelopes (property)", () =>
    Effect.gen(function* () {
      const codec = yield* orderCodec()
      const encodeEvent = Schema.encodeSync(Schema.toCodecJson(OrderEvent))
      // text fields as plain text: Avro strings are UTF-8, which has no unpaired surrogates
      const Input = Schema.Struct({
        event: OrderEvent,
        version: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 2 ** 40 })),
        correlationId: EventEnvelope.StreamId,
        causationId: Schema.optionalKey(EventEnvelope.StreamId),
        tenant: Schema.optionalKey(EventEnvelope.StreamId),
        // as epoch milliseconds: Timestamp's own arbitrary discards most of what it draws
        occurredAt: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 253402300799999 }))
      })
      const result = yield* Arbitrary.checkEffect(
        Arbitrary.schema(Input),
        ({ causationId, correlationId, event, occurredAt, tenant, version }) =>
          Effect.gen(function* () {
            const { _tag, ...data } = encodeEvent(event) as { readonly _tag: string } & Record<string, Schema.Json>
            // timestamp-millis carries milliseconds: random timestamps are cut to them first
            const millis = Object.fromEntries(
              Object.entries(data).map(([key, value]) => [key, key.endsWith("At") ? canonical(value as string) : value])
            )
            const base = recorded(_tag, millis, version)
            const input: EventEnvelope.RecordedEvent = {
              ...base,
              metadata: {
                correlationId,
                occurredAt: new Date(occurredAt).toISOString(),
                ...(causationId === undefined ? {} : { causationId }),
                ...(tenant === undefined ? {} : { tenant })
              }
            }
            const decoded = yield* codec.decode(yield* codec.encode(input, { publishedAt }))
            // key order aside (metadata's extra keys travel as JSON text)
            return JSON.stringify(sortKeys(decoded)) === JSON.stringify(sortKeys(input))
          }),
        { runs: 200, seed: 13 }
      )
      assert.strictEqual(result._tag, "Passed", Arbitrary.formatCheckFailure(result))
    }).pipe(Effect.provide(RegistryTest))
  )

  it.live("reads data written under OrderCreated v1 with the v2 codec: the default fills currency", () =>
    Effect.gen(function* () {
      const subject = unique("eventline-test-evolve-value")
      const v1 = yield* orderCodec(orderEventsV1, subject)
      const v2 = yield* orderCodec(orderEventsV2WithDefault, subject)
      assert.notStrictEqual(v2.schemaId, v1.schemaId)
      const { currency: _, ...v1Data } = created
      const old = recorded("OrderCreated", v1Data)
      const decoded = yield* v2.decode(yield* v1.encode(old, { publishedAt }))
      assert.deepStrictEqual(decoded.data, { ...v1Data, currency: "EUR" })
    }).pipe(Effect.provide(RegistryTest))
  )

  it.live("refuses an event that does not fit, naming the field, and undecodable values", () =>
    Effect.gen(function* () {
      const codec = yield* orderCodec()
      const { currency: _, ...v1Data } = created
      const missing = yield* codec.encode(recorded("OrderCreated", v1Data), { publishedAt }).pipe(Effect.flip)
      assert.strictEqual(missing._tag, "InvalidEvent")
      assert.include(missing.reason, "data.currency: is missing")
      const unknownType = yield* codec.encode(recorded("OrderShipped", {}), { publishedAt }).pipe(Effect.flip)
      assert.include(unknownType.reason, "expected one of OrderCreated, OrderConfirmed, OrderCancelled")

      const json = yield* codec.decode({ value: Buffer.from('{"a":1}') }).pipe(Effect.flip)
      assert.include(json.reason, "magic byte")
      const unknownId = yield* codec
        .decode({ value: AvroCodec.frame(2_000_000_000, Uint8Array.of()) })
        .pipe(Effect.flip)
      assert.strictEqual(unknownId._tag, "UndecodableMessage")
    }).pipe(Effect.provide(RegistryTest))
  )
})

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("AvroCodec on the broker", () => {
  it.live(
    "round-trips Avro envelopes through Kafka",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("avro")
        const codec = yield* orderCodec(OrderEvent, AvroCodec.subjectOf(topic))
        const events = [
          recorded("OrderCreated", created, 1),
          recorded("OrderConfirmed", { confirmedAt: "2026-11-27T10:00:01.000Z" }, 2)
        ]
        const producer = yield* KafkaProducer.KafkaProducer
        yield* producer.send(topic, yield* codec.encodeAll(events, { publishedAt }))
        const consumed = yield* KafkaConsumer.consume([topic], unique("avro"), fastGroup).pipe(
          Stream.mapEffect((message) => message.ack.pipe(Effect.as(message))),
          Stream.take(events.length),
          Stream.runCollect,
          Effect.timeout("20 seconds")
        )
        const decoded = yield* Effect.forEach(consumed, (consumedMessage) => codec.decode(consumedMessage.message))
        assert.deepStrictEqual(decoded, events)
      }).pipe(Effect.provide(Layer.merge(KafkaTest, RegistryTest))),
    60_000
  )
})

const sortKeys = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(sortKeys)
    : typeof value === "object" && value !== null
      ? Object.fromEntries(
          Object.entries(value)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([key, inner]) => [key, sortKeys(inner)])
        )
      : value
