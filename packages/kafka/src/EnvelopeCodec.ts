/**
 * How a recorded event travels as a Kafka message: the key is the stream id (so one stream's
 * events stay in one partition, in order), the value is the `RecordedEvent` envelope as JSON
 * (through its Schema), and headers repeat the envelope's routing facts so that tools and
 * brokers can read them without parsing the value.
 *
 * The value is the source of truth: `decode` reads only the value, the headers are for people
 * and tools (kcat, dashboards, header-based routing).
 *
 * @since 0.1.0
 */
import { Errors, EventBus, EventEnvelope } from "@eventline/core"
import { DateTime, Effect, Exit, Option, Result, Schema } from "effect"
import type { IHeaders, Message } from "kafkajs"

/**
 * A message whose value is not an Eventline envelope: missing, not UTF-8, not JSON, or not
 * matching the `RecordedEvent` schema. `reason` says which.
 *
 * @category errors
 * @since 0.1.0
 */
export class UndecodableMessage extends Schema.TaggedError<UndecodableMessage>()("UndecodableMessage", {
  reason: Schema.String
}) {
  override get message(): string {
    return `undecodable message: ${this.reason}`
  }
}

/**
 * The envelope's JSON codec: `RecordedEvent` <-> JSON text.
 *
 * @category schemas
 * @since 0.1.0
 */
export const EnvelopeJson = Schema.fromJsonString(EventEnvelope.RecordedEvent)

/**
 * The header names written by `encode`: those every bus delivers (core's `EventBus.Headers`),
 * and the value's content type.
 *
 * @category constants
 * @since 0.1.0
 */
export const Headers = {
  ...EventBus.Headers,
  contentType: "content-type"
} as const

/**
 * @category models
 * @since 0.1.0
 */
export interface EncodeOptions {
  /** The `published-at` header. Default: now (from the Effect `Clock`). */
  readonly publishedAt?: DateTime.Utc | undefined
  /**
   * The events already passed {@link validateAll}: skip the schema check (it is most of the
   * encoder's cost).
   *
   * @since 0.3.0
   */
  readonly validated?: boolean | undefined
}

/**
 * Encode a recorded event as a Kafka message (key, value and headers). Fails with
 * `InvalidEvent` when the event does not satisfy the envelope schema.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (
  event: EventEnvelope.RecordedEvent,
  options?: EncodeOptions
): Effect.Effect<Message, Errors.InvalidEvent> =>
  Effect.flatMap(
    options?.publishedAt === undefined ? DateTime.now : Effect.succeed(options.publishedAt),
    (publishedAt) => {
      const message = encodeAt(event, DateTime.formatIso(publishedAt))
      return Result.isSuccess(message) ? Effect.succeed(message.success) : Effect.fail(message.failure)
    }
  )

// compiled once; encoding runs synchronously (the relay encodes hundreds of events per batch)
const encodeValue = Schema.encodeExit(EnvelopeJson)
const isEnvelope = Schema.is(EventEnvelope.RecordedEvent)

/**
 * The envelope's JSON, written straight from an event that satisfies the schema: every field of
 * `RecordedEvent` is plain JSON on both sides of the schema (no transformation), so this is the
 * same JSON as `EnvelopeJson`'s encoding (a test keeps them equal) without a second walk of the
 * schema over the event (the check already made one): the relay's encoder costs ~30% less.
 */
const envelopeText = (event: EventEnvelope.RecordedEvent): string =>
  JSON.stringify({
    eventId: event.eventId,
    streamId: event.streamId,
    streamType: event.streamType,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
    version: event.version,
    position: event.position
  })

/** Why an event is not a valid envelope: the schema's encoding says. */
const invalid = (event: EventEnvelope.RecordedEvent): Errors.InvalidEvent => {
  const value = encodeValue(event)
  const error = Exit.isFailure(value) ? Exit.findErrorOption(value) : Option.none()
  const reason = Option.isSome(error) ? error.value.message : "the envelope cannot be encoded"
  return new Errors.InvalidEvent({ streamId: event.streamId, reason })
}

const encodeAt = (
  event: EventEnvelope.RecordedEvent,
  publishedAt: string,
  validated = false
): Result.Result<Message, Errors.InvalidEvent> => {
  if (!validated && !isEnvelope(event)) return Result.fail(invalid(event))
  const headers = EventBus.headersOf(event, publishedAt)
  headers[Headers.contentType] = "application/json"
  return Result.succeed({ key: event.streamId, value: envelopeText(event), headers })
}

/**
 * Encode several events; fails on the first invalid one.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeAll = (
  events: ReadonlyArray<EventEnvelope.RecordedEvent>,
  options?: EncodeOptions
): Effect.Effect<Array<Message>, Errors.InvalidEvent> =>
  Effect.flatMap(
    options?.publishedAt === undefined ? DateTime.now : Effect.succeed(options.publishedAt),
    (publishedAt) => {
      const at = DateTime.formatIso(publishedAt)
      const messages: Array<Message> = []
      for (const event of events) {
        const message = encodeAt(event, at, options?.validated === true)
        if (Result.isFailure(message)) return Effect.fail(message.failure)
        messages.push(message.success)
      }
      return Effect.succeed(messages)
    }
  )

/**
 * Check every event against the envelope schema; fails with the first invalid one. A publisher
 * that sends in several requests checks first, so that an invalid event publishes nothing.
 *
 * @category encoding
 * @since 0.3.0
 */
export const validateAll = (
  events: ReadonlyArray<EventEnvelope.RecordedEvent>
): Effect.Effect<void, Errors.InvalidEvent> =>
  Effect.suspend(() => {
    for (const event of events) {
      if (!isEnvelope(event)) return Effect.fail(invalid(event))
    }
    return Effect.void
  })

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The part of a Kafka message that `decode` reads.
 *
 * @category models
 * @since 0.1.0
 */
export interface EncodedMessage {
  readonly value: Buffer | string | null | undefined
}

/**
 * Decode a Kafka message's value back into the envelope, through its Schema.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = (message: EncodedMessage): Effect.Effect<EventEnvelope.RecordedEvent, UndecodableMessage> =>
  Effect.gen(function* () {
    const { value } = message
    if (value === null || value === undefined) {
      return yield* new UndecodableMessage({ reason: "the message has no value" })
    }
    let text: string
    if (typeof value === "string") {
      text = value
    } else {
      try {
        text = utf8.decode(value)
      } catch {
        return yield* new UndecodableMessage({ reason: "the value is not UTF-8 text" })
      }
    }
    return yield* Schema.decodeUnknownEffect(EnvelopeJson)(text).pipe(
      Effect.mapError((error) => new UndecodableMessage({ reason: error.message }))
    )
  })

/**
 * Kafka headers as plain strings (a repeated header keeps its last value).
 *
 * @category decoding
 * @since 0.1.0
 */
export const headersToRecord = (headers: IHeaders | undefined): Record<string, string> => {
  const record: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value[value.length - 1] : value
    if (last !== undefined) record[name] = typeof last === "string" ? last : last.toString("utf8")
  }
  return record
}
