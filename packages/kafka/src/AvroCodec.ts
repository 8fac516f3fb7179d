/**
 * Recorded events as Avro Kafka messages in the Confluent wire format: magic byte 0, the schema
 * id as a 4-byte big-endian integer, then the Avro body. That is what kcat (`-s value=avro -r`),
 * Kafka Connect, ksqlDB and every Kafka client's Avro deserializer read.
 *
 * The value's Avro schema is derived from the events' Effect Schema (`AvroSchema.envelope`) and
 * registered at start-up under the topic's subject (`<topic>-value`) with BACKWARD
 * compatibility, so an incompatible change of the events fails `make` with the registry's
 * reason. The key and the headers are those of the JSON codec (`EnvelopeCodec`): the value is
 * still the whole envelope, the headers repeat its routing facts for tools.
 *
 * Decoding reads the schema id of each message: data written with an earlier registered schema
 * is read through an avsc resolver into the current schema (fetched once per id, then cached).
 *
 * @since 0.3.0
 */
import { Errors, EventBus, EventEnvelope } from "@eventline/core"
import avro from "avsc"
import { DateTime, Effect, Result, Schema } from "effect"
import type { Message } from "kafkajs"
import * as AvroSchema from "./AvroSchema.ts"
import { type EncodedMessage, type EncodeOptions, Headers, UndecodableMessage } from "./EnvelopeCodec.ts"
import {
  type Compatibility,
  type IncompatibleSchema,
  SchemaRegistry,
  type SchemaRegistryError
} from "./SchemaRegistry.ts"

/**
 * The first byte of every Confluent-framed message.
 *
 * @category constants
 * @since 0.3.0
 */
export const magicByte = 0

/**
 * The content type written in the `content-type` header.
 *
 * @category constants
 * @since 0.3.0
 */
export const contentType = "application/vnd.confluent.avro"

/**
 * Frame an Avro body: magic byte, 4-byte big-endian schema id, body.
 *
 * @category wire format
 * @since 0.3.0
 */
export const frame = (schemaId: number, body: Uint8Array): Buffer => {
  const framed = Buffer.allocUnsafe(5 + body.length)
  framed.writeUInt8(magicByte, 0)
  framed.writeUInt32BE(schemaId, 1)
  framed.set(body, 5)
  return framed
}

/**
 * Split a framed message into its schema id and Avro body; fails with the reason when it is not
 * in the Confluent format.
 *
 * @category wire format
 * @since 0.3.0
 */
export const unframe = (
  value: Uint8Array
): Result.Result<{ readonly schemaId: number; readonly body: Buffer }, string> => {
  if (value.length < 5) return Result.fail(`an Avro message has at least 5 bytes, this one ${value.length}`)
  const buffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  if (buffer.readUInt8(0) !== magicByte)
    return Result.fail(`the magic byte is ${buffer.readUInt8(0)}, not ${magicByte}`)
  return Result.succeed({ schemaId: buffer.readUInt32BE(1), body: buffer.subarray(5) })
}

/**
 * The subject of a topic's values under Confluent's default `TopicNameStrategy`.
 *
 * @category constructors
 * @since 0.3.0
 */
export const subjectOf = (topic: string): string => `${topic}-value`

/**
 * @category models
 * @since 0.3.0
 */
export interface Options {
  /** The events: a `Schema.TaggedUnion` of the stream type's events (current versions). */
  readonly events: Schema.Top
  /** The Avro name of the envelope record, such as `OrderEnvelope`. */
  readonly name: string
  /** Avro namespace. Default: `eventline`. */
  readonly namespace?: string | undefined
  /** The registry subject, usually `subjectOf(topic)`. */
  readonly subject: string
  /** Set on the subject before registering. Default: BACKWARD. */
  readonly compatibility?: Compatibility | undefined
}

/**
 * A topic's Avro codec, its schema registered.
 *
 * @category models
 * @since 0.3.0
 */
export interface AvroCodec {
  readonly subject: string
  readonly schemaId: number
  /** The derived Avro schema (JSON). */
  readonly schema: AvroSchema.AvroJson
  /** Encode as a Kafka message; fails with `InvalidEvent` naming the field that does not fit. */
  readonly encode: (
    event: EventEnvelope.RecordedEvent,
    options?: EncodeOptions
  ) => Effect.Effect<Message, Errors.InvalidEvent>
  readonly encodeAll: (
    events: ReadonlyArray<EventEnvelope.RecordedEvent>,
    options?: EncodeOptions
  ) => Effect.Effect<Array<Message>, Errors.InvalidEvent>
  /** Decode a message written with this subject's current or an earlier schema. */
  readonly decode: (message: EncodedMessage) => Effect.Effect<EventEnvelope.RecordedEvent, UndecodableMessage>
}

const isEnvelope = Schema.is(EventEnvelope.RecordedEvent)
const decodeEnvelope = Schema.decodeUnknownExit(EventEnvelope.RecordedEvent)

/**
 * Derive the topic's Avro schema, set the subject's compatibility and register the schema: fails
 * with `UnsupportedSchema` (naming the field), `IncompatibleSchema` (the registry's reason) or
 * `SchemaRegistryError`.
 *
 * @category constructors
 * @since 0.3.0
 */
export const make = (
  options: Options
): Effect.Effect<AvroCodec, AvroSchema.UnsupportedSchema | IncompatibleSchema | SchemaRegistryError, SchemaRegistry> =>
  Effect.gen(function* () {
    const registry = yield* SchemaRegistry
    const derived = AvroSchema.envelope(options.events, options.name, { namespace: options.namespace })
    if (Result.isFailure(derived)) return yield* derived.failure
    const { fromAvro, schema, toAvro } = derived.success
    const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: true })
    yield* registry.setCompatibility(options.subject, options.compatibility ?? "BACKWARD")
    const schemaId = yield* registry.register(options.subject, JSON.stringify(schema))

    // writer schema id -> how to read its bodies into the current schema
    const readers = new Map<number, (body: Buffer) => unknown>([[schemaId, (body) => type.fromBuffer(body)]])
    const readerOf = (id: number): Effect.Effect<(body: Buffer) => unknown, UndecodableMessage> => {
      const known = readers.get(id)
      if (known !== undefined) return Effect.succeed(known)
      return registry.schemaById(id).pipe(
        Effect.flatMap((text) =>
          Effect.try({
            try: () => {
              const writer = avro.Type.forSchema(JSON.parse(text) as avro.Schema, { wrapUnions: true })
              const resolver = type.createResolver(writer)
              const read = (body: Buffer): unknown => type.fromBuffer(body, resolver)
              readers.set(id, read)
              return read
            },
            catch: (error) =>
              new UndecodableMessage({
                reason: `schema ${id} cannot be read as ${options.subject}'s: ${String(error)}`
              })
          })
        ),
        Effect.catchTag("SchemaRegistryError", (error) =>
          Effect.fail(new UndecodableMessage({ reason: error.message }))
        )
      )
    }

    const encodeAt = (
      event: EventEnvelope.RecordedEvent,
      publishedAt: string,
      validated: boolean
    ): Result.Result<Message, Errors.InvalidEvent> => {
      const streamId = event.streamId
      if (!validated && !isEnvelope(event)) {
        return Result.fail(new Errors.InvalidEvent({ streamId, reason: "not a valid envelope" }))
      }
      let value: Buffer
      try {
        value = frame(schemaId, type.toBuffer(toAvro(event, "")))
      } catch (error) {
        const reason =
          error instanceof AvroSchema.AvroValueError
            ? `${error.path}: ${error.reason}`
            : `not encodable as Avro: ${String(error)}`
        return Result.fail(new Errors.InvalidEvent({ streamId, reason }))
      }
      const headers = EventBus.headersOf(event, publishedAt)
      headers[Headers.contentType] = contentType
      return Result.succeed({ key: event.streamId, value, headers })
    }

    const publishedAtOf = (options?: EncodeOptions) =>
      Effect.map(
        options?.publishedAt === undefined ? DateTime.now : Effect.succeed(options.publishedAt),
        DateTime.formatIso
      )

    return {
      subject: options.subject,
      schemaId,
      schema,
      encode: (event, encodeOptions) =>
        Effect.flatMap(publishedAtOf(encodeOptions), (at) => {
          const message = encodeAt(event, at, encodeOptions?.validated === true)
          return Result.isSuccess(message) ? Effect.succeed(message.success) : Effect.fail(message.failure)
        }),
      encodeAll: (events, encodeOptions) =>
        Effect.flatMap(publishedAtOf(encodeOptions), (at) => {
          const messages: Array<Message> = []
          for (const event of events) {
            const message = encodeAt(event, at, encodeOptions?.validated === true)
            if (Result.isFailure(message)) return Effect.fail(message.failure)
            messages.push(message.success)
          }
          return Effect.succeed(messages)
        }),
      decode: (message) =>
        Effect.gen(function* () {
          const { value } = message
          if (value === null || value === undefined) {
            return yield* new UndecodableMessage({ reason: "the message has no value" })
          }
          const framed = unframe(typeof value === "string" ? Buffer.from(value, "utf8") : value)
          if (Result.isFailure(framed)) return yield* new UndecodableMessage({ reason: framed.failure })
          const read = yield* readerOf(framed.success.schemaId)
          const decoded = yield* Effect.try({
            try: () => decodeEnvelope(fromAvro(read(framed.success.body))),
            catch: (error) => new UndecodableMessage({ reason: `not an Avro ${options.name}: ${String(error)}` })
          })
          if (decoded._tag === "Failure") {
            return yield* new UndecodableMessage({ reason: `not a valid envelope: ${String(decoded.cause)}` })
          }
          return decoded.value
        })
    }
  })
