/**
 * An `EventStore` held in memory, with exactly the semantics of the SQL stores. For unit tests
 * and the fastest embedded use; it keeps nothing across restarts.
 *
 * Appends run as one synchronous step, so they are atomic with respect to every other fiber.
 * When a `CommitSignal` is in context as the store is built, every append announces itself.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Option, Stream } from "effect"
import { CommitSignal } from "./CommitSignal.ts"
import { ConcurrencyConflict, DuplicateEventId, InvalidEvent, StreamNotFound } from "./Errors.ts"
import type { NewEvent, RecordedEvent } from "./EventEnvelope.ts"
import {
  type AppendOptions,
  type AppendResult,
  appendResult,
  defaultBatchSize,
  EventStore,
  type ReadAllOptions,
  type ReadStreamOptions,
  validateAppend
} from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as Json from "./Json.ts"
import * as Position from "./Position.ts"
import * as Uuid from "./Uuid.ts"

interface StreamRecord {
  readonly streamType: string
  readonly events: Array<RecordedEvent>
}

const sameContent = (stored: RecordedEvent, event: NewEvent): boolean =>
  stored.type === event.type && stored.schemaVersion === event.schemaVersion && Json.equals(stored.data, event.data)

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  // wake-ups go to the signal present when the store is built (if any)
  const signal = yield* Effect.serviceOption(CommitSignal)
  const log: Array<RecordedEvent> = []
  const streams = new Map<string, StreamRecord>()
  const byEventId = new Map<string, RecordedEvent>()

  /** An earlier append of exactly these events, if this is its retry; a failure if ids are misused. */
  const findEarlierAppend = (
    streamId: string,
    events: ReadonlyArray<NewEvent & { readonly eventId: string }>
  ): Option.Option<AppendResult> | DuplicateEventId => {
    const stored = events.map((event) => byEventId.get(event.eventId))
    if (stored.every((event) => event === undefined)) return Option.none()
    for (const [index, event] of events.entries()) {
      const previous = stored[index]
      const expectedVersion = (stored[0]?.version ?? Number.NaN) + index
      if (
        previous === undefined ||
        previous.streamId !== streamId ||
        previous.version !== expectedVersion ||
        !sameContent(previous, event)
      ) {
        return new DuplicateEventId({ eventId: event.eventId, streamId })
      }
    }
    return Option.some(appendResult(stored as ReadonlyArray<RecordedEvent>))
  }

  const append = Effect.fn("InMemoryEventStore.append")(function* (
    streamId: string,
    expected: ExpectedVersion.ExpectedVersion,
    events: ReadonlyArray<NewEvent>,
    options: AppendOptions
  ) {
    yield* validateAppend(streamId, events, options)
    const withIds: Array<NewEvent & { readonly eventId: string }> = []
    // uuids compare in lower case, as PostgreSQL stores them
    for (const event of events)
      withIds.push({ ...event, eventId: event.eventId?.toLowerCase() ?? (yield* Uuid.makeV7) })

    const earlier = findEarlierAppend(streamId, withIds)
    if (earlier instanceof DuplicateEventId) return yield* earlier
    if (Option.isSome(earlier)) return earlier.value

    const stream = streams.get(streamId)
    if (stream !== undefined && stream.streamType !== options.streamType) {
      return yield* new InvalidEvent({
        streamId,
        reason: `the stream has type '${stream.streamType}', not '${options.streamType}'`
      })
    }
    const current = stream?.events.length ?? 0
    if (!ExpectedVersion.isSatisfiedBy(expected, current)) {
      return yield* new ConcurrencyConflict({ streamId, expected: ExpectedVersion.format(expected), actual: current })
    }
    const target = stream ?? { streamType: options.streamType, events: [] }
    const recorded = withIds.map((event, index): RecordedEvent => {
      const global = BigInt(log.length + index + 1)
      return {
        eventId: event.eventId,
        streamId,
        streamType: options.streamType,
        type: event.type,
        schemaVersion: event.schemaVersion,
        data: event.data,
        metadata: event.metadata,
        version: current + index + 1,
        position: Position.make(global, global)
      }
    })
    // from here to the end nothing yields: the write is one atomic step
    streams.set(streamId, target)
    for (const event of recorded) {
      target.events.push(event)
      log.push(event)
      byEventId.set(event.eventId, event)
    }
    const result = appendResult(recorded)
    if (Option.isSome(signal)) {
      yield* signal.value.publish({ streamType: options.streamType, position: result.lastPosition })
    }
    return result
  })

  const readStream = (streamId: string, options?: ReadStreamOptions) =>
    Stream.suspend(() => {
      const stream = streams.get(streamId)
      if (stream === undefined) return Stream.fail(new StreamNotFound({ streamId }))
      const events = stream.events
      const maxCount = options?.maxCount ?? Number.POSITIVE_INFINITY
      if (options?.direction === "backward") {
        const last = Math.min(options.from ?? events.length, events.length)
        const first = Math.max(1, last - maxCount + 1)
        return Stream.fromIterable(events.slice(first - 1, Math.max(last, 0)).reverse())
      }
      const first = Math.max(options?.from ?? 1, 1)
      return Stream.fromIterable(events.slice(first - 1, Math.min(events.length, first - 1 + maxCount)))
    })

  const readAll = (options?: ReadAllOptions) =>
    Stream.suspend(() => {
      const head = log.length
      const batchSize = options?.batchSize ?? defaultBatchSize
      const streamTypes = options?.streamTypes === undefined ? undefined : new Set(options.streamTypes)
      const eventTypes = options?.eventTypes === undefined ? undefined : new Set(options.eventTypes)
      const matches = (event: RecordedEvent) =>
        (streamTypes === undefined || streamTypes.has(event.streamType)) &&
        (eventTypes === undefined || eventTypes.has(event.type))
      const start = options?.after === undefined ? 0 : Number(Position.globalPosition(options.after))
      return Stream.paginate(start, (from) => {
        const to = Math.min(from + batchSize, head)
        const page = log.slice(from, to).filter(matches)
        return Effect.succeed([page, to < head ? Option.some(to) : Option.none()] as const)
      })
    })

  const streamVersion = (streamId: string) => Effect.sync(() => streams.get(streamId)?.events.length ?? 0)

  const findEvent = (eventId: string) => Effect.sync(() => Option.fromNullishOr(byEventId.get(eventId.toLowerCase())))

  return EventStore.of({ append, readStream, readAll, streamVersion, findEvent })
})

/**
 * A fresh, empty in-memory store.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make)
