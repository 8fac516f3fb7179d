/**
 * The event store contract. Every implementation (in-memory, PGlite, PostgreSQL) passes the same
 * conformance suite (`@eventline/testing/EventStoreConformance`).
 *
 * Rules:
 * - a stream's versions are 1..n with no gaps; the expected-version check and the write are one
 *   atomic step, so of two writers with the same expectation exactly one wins;
 * - appending event ids that are already stored, in the same order at the same place with the
 *   same content, returns the first result (an idempotent retry); reusing an id otherwise fails
 *   with `DuplicateEventId`;
 * - `readAll` returns events in global order and never skips one that commits late.
 *
 * @since 0.1.0
 */
import { Cause, Context, Effect, Exit, Option, Schema, type Stream } from "effect"
import {
  type ConcurrencyConflict,
  DuplicateEventId,
  type InfrastructureError,
  InvalidEvent,
  type StreamNotFound
} from "./Errors.ts"
import { NewEvent, type RecordedEvent, StreamId, TypeName } from "./EventEnvelope.ts"
import type { ExpectedVersion } from "./ExpectedVersion.ts"
import * as Json from "./Json.ts"
import type { Position } from "./Position.ts"
import * as Uuid from "./Uuid.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface AppendOptions {
  /** The stream's type (its aggregate), used to route and filter; fixed by the first append. */
  readonly streamType: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface AppendResult {
  /** The stream's version after this append: pass it as `Exact` to append next. */
  readonly nextExpectedVersion: number
  readonly firstPosition: Position
  readonly lastPosition: Position
  readonly events: ReadonlyArray<RecordedEvent>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ReadStreamOptions {
  /** The first version to read (inclusive). Forward default: 1; backward default: the last. */
  readonly from?: number | undefined
  readonly direction?: "forward" | "backward" | undefined
  readonly maxCount?: number | undefined
}

/**
 * Which part of the global log a head or count query looks at: only these stream types and/or
 * event types (an empty list matches nothing; absent matches everything).
 *
 * @category models
 * @since 0.2.0
 */
export interface LogFilter {
  readonly streamTypes?: ReadonlyArray<string> | undefined
  readonly eventTypes?: ReadonlyArray<string> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ReadAllOptions extends LogFilter {
  /** Read events after this position (exclusive). Default: the start of the log. */
  readonly after?: Position | undefined
  /** How many rows one page fetches; memory stays bounded by it. */
  readonly batchSize?: number | undefined
}

/**
 * @category errors
 * @since 0.1.0
 */
export type AppendError = ConcurrencyConflict | DuplicateEventId | InvalidEvent | InfrastructureError

/**
 * @category services
 * @since 0.1.0
 */
export class EventStore extends Context.Service<
  EventStore,
  {
    readonly append: (
      streamId: string,
      expected: ExpectedVersion,
      events: ReadonlyArray<NewEvent>,
      options: AppendOptions
    ) => Effect.Effect<AppendResult, AppendError>
    /** Fails with `StreamNotFound` when the stream has no events. */
    readonly readStream: (
      streamId: string,
      options?: ReadStreamOptions
    ) => Stream.Stream<RecordedEvent, StreamNotFound | InfrastructureError>
    /** A catch-up read of the global log up to its current (gap-safe) head. */
    readonly readAll: (options?: ReadAllOptions) => Stream.Stream<RecordedEvent, InfrastructureError>
    /** The stream's current version; 0 when it does not exist. */
    readonly streamVersion: (streamId: string) => Effect.Effect<number, InfrastructureError>
    /** The stored event with this id, if any. */
    readonly findEvent: (eventId: string) => Effect.Effect<Option.Option<RecordedEvent>, InfrastructureError>
    /** The last event a gap-safe reader can see now (Position.start when none): where "start from the end" begins. */
    readonly headPosition: (filter?: LogFilter) => Effect.Effect<Position, InfrastructureError>
    /** The last committed event, visible to a gap-safe reader or not yet (read-your-writes targets; never a start position). */
    readonly lastCommittedPosition: (filter?: LogFilter) => Effect.Effect<Position, InfrastructureError>
    /** Committed events after `after` (including those still below an open transaction), and the time the oldest was recorded. */
    readonly countAfter: (
      after: Position,
      filter?: LogFilter
    ) => Effect.Effect<{ readonly events: number; readonly oldest: Option.Option<Date> }, InfrastructureError>
  }
>()("@eventline/core/EventStore") {}

/**
 * An event to append with its id settled.
 *
 * @category models
 * @since 0.1.0
 */
export type IdentifiedEvent = NewEvent & { readonly eventId: string }

/**
 * Give every event its id: the caller's, in lower case (uuids compare that way, as PostgreSQL
 * stores them), or a new UUID v7.
 *
 * @category appending
 * @since 0.1.0
 */
export const withEventIds = (events: ReadonlyArray<NewEvent>): Effect.Effect<Array<IdentifiedEvent>> =>
  Effect.forEach(events, (event) =>
    event.eventId === undefined
      ? Effect.map(Uuid.makeV7, (eventId): IdentifiedEvent => ({ ...event, eventId }))
      : Effect.succeed<IdentifiedEvent>({ ...event, eventId: event.eventId.toLowerCase() })
  )

/**
 * The event as stored, at its place.
 *
 * @category appending
 * @since 0.1.0
 */
export const recordedEvent = (
  event: IdentifiedEvent,
  place: {
    readonly streamId: string
    readonly streamType: string
    readonly version: number
    readonly position: Position
  }
): RecordedEvent => ({
  eventId: event.eventId,
  streamId: place.streamId,
  streamType: place.streamType,
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: event.data,
  metadata: event.metadata,
  version: place.version,
  position: place.position
})

/**
 * Whether an append repeats an earlier one, given what is stored under its event ids: none of
 * them stored (a new append); all of them, in order, at consecutive versions of this stream,
 * with the same type, schema version and data (a retry: its first result); anything else is a
 * misuse of the ids (`DuplicateEventId`).
 *
 * @category appending
 * @since 0.1.0
 */
export const earlierAppend = (
  streamId: string,
  events: ReadonlyArray<IdentifiedEvent>,
  storedById: (eventId: string) => RecordedEvent | undefined
): Option.Option<AppendResult> | DuplicateEventId => {
  const stored = events.map((event) => storedById(event.eventId))
  if (stored.every((event) => event === undefined)) return Option.none()
  const firstVersion = stored[0]?.version
  for (const [index, event] of events.entries()) {
    const previous = stored[index]
    if (
      firstVersion === undefined ||
      previous === undefined ||
      previous.streamId !== streamId ||
      previous.version !== firstVersion + index ||
      previous.type !== event.type ||
      previous.schemaVersion !== event.schemaVersion ||
      !Json.equals(previous.data, event.data)
    ) {
      return new DuplicateEventId({ eventId: event.eventId, streamId })
    }
  }
  return Option.some(appendResult(stored as ReadonlyArray<RecordedEvent>))
}

/**
 * The result of an append, from the events it stored (at least one).
 *
 * @category constructors
 * @since 0.1.0
 */
export const appendResult = (events: ReadonlyArray<RecordedEvent>): AppendResult => {
  const first = events[0] as RecordedEvent
  const last = events[events.length - 1] as RecordedEvent
  return { nextExpectedVersion: last.version, firstPosition: first.position, lastPosition: last.position, events }
}

/**
 * The default page size of reads.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultBatchSize = 500

/**
 * An event's data and metadata as JSON text: measured by `validateAppend`, and handed to stores
 * that send it on (so no event is serialised twice).
 *
 * @category validation
 * @since 0.1.0
 */
export interface SerializedEvent {
  readonly data: string
  readonly metadata: string
}

/**
 * The largest event a store accepts: the UTF-8 size of its data and metadata as JSON. Default
 * 1 MiB; provide another value to change it.
 *
 * @category validation
 * @since 0.1.0
 */
export class MaxEventBytes extends Context.Reference<number>("@eventline/core/EventStore/MaxEventBytes", {
  defaultValue: () => 1024 * 1024
}) {}

/**
 * The checks every store makes before it writes anything (it returns each event serialised): a valid stream id and stream type, at
 * least one event, every event matching the `NewEvent` schema and no larger than `MaxEventBytes`,
 * no event id twice in one append, and no NUL character in any string (PostgreSQL's jsonb cannot
 * hold one, so no store accepts it).
 *
 * @category validation
 * @since 0.1.0
 */
export const validateAppend = (
  streamId: string,
  events: ReadonlyArray<NewEvent>,
  options: AppendOptions
): Effect.Effect<ReadonlyArray<SerializedEvent>, InvalidEvent> =>
  // plain code in one step, not a generator: it runs on every append
  Effect.flatMap(Effect.service(MaxEventBytes), (maxBytes) => {
    const invalid = (reason: string) => Effect.fail(new InvalidEvent({ streamId: String(streamId), reason }))
    if (Exit.isFailure(decodeStreamId(streamId))) {
      return invalid("the stream id must be 1 to 200 characters without control characters")
    }
    if (Exit.isFailure(decodeTypeName(options.streamType))) {
      return invalid("the stream type must be 1 to 100 characters without control characters")
    }
    if (events.length === 0) return invalid("an append needs at least one event")
    const seen = events.length > 1 ? new Set<string>() : undefined
    const serialized = new Array<SerializedEvent>(events.length)
    for (let index = 0; index < events.length; index++) {
      const event = events[index] as NewEvent
      const decoded = decodeNewEvent(event)
      if (Exit.isFailure(decoded)) return invalid(`event ${index}: ${Cause.pretty(decoded.cause)}`)
      const json = { data: JSON.stringify(event.data), metadata: JSON.stringify(event.metadata) }
      // JSON.stringify writes a NUL as \u0000: text without that sequence holds none (with it: look closer)
      const suspect = json.data.includes("\\u0000") || json.metadata.includes("\\u0000")
      if (event.type.includes("\u0000") || event.eventId?.includes("\u0000") || (suspect && containsNul(event))) {
        return invalid(`event ${index}: strings must not contain the NUL character`)
      }
      const bytes = Buffer.byteLength(json.data) + Buffer.byteLength(json.metadata)
      if (bytes > maxBytes) return invalid(`event ${index} is ${bytes} bytes; at most ${maxBytes} are accepted`)
      serialized[index] = json
      if (seen !== undefined && event.eventId !== undefined) {
        if (seen.has(event.eventId)) return invalid(`event id ${event.eventId} appears twice in one append`)
        seen.add(event.eventId)
      }
    }
    return Effect.succeed(serialized)
  })

const decodeStreamId = Schema.decodeUnknownExit(StreamId)
const decodeTypeName = Schema.decodeUnknownExit(TypeName)
const decodeNewEvent = Schema.decodeUnknownExit(NewEvent)

const containsNul = (value: unknown): boolean => {
  if (typeof value === "string") return value.includes("\u0000")
  if (Array.isArray(value)) return value.some(containsNul)
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).some(([key, item]) => key.includes("\u0000") || containsNul(item))
  }
  return false
}
