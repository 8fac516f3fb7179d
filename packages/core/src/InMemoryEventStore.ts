/**
 * An `EventStore` held in memory, with exactly the semantics of the SQL stores. For unit tests
 * and the fastest embedded use; it keeps nothing across restarts.
 *
 * Appends run as one synchronous step, so they are atomic with respect to every other fiber.
 * When a `CommitSignal` is in context as the store is built, every append announces itself.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Layer, Option, Stream } from "effect"
import { CommitSignal } from "./CommitSignal.ts"
import { ConcurrencyConflict, DuplicateEventId, InvalidEvent, StreamNotFound } from "./Errors.ts"
import type { NewEvent, RecordedEvent } from "./EventEnvelope.ts"
import {
  type AppendOptions,
  appendResult,
  defaultBatchSize,
  EventStore,
  earlierAppend,
  type LogFilter,
  type ReadAllOptions,
  type ReadStreamOptions,
  recordedEvent,
  validateAppend,
  withEventIds
} from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as Position from "./Position.ts"

/** A predicate for the events a filter selects. */
const matcher = (filter?: LogFilter) => {
  const streamTypes = filter?.streamTypes === undefined ? undefined : new Set(filter.streamTypes)
  const eventTypes = filter?.eventTypes === undefined ? undefined : new Set(filter.eventTypes)
  return (event: RecordedEvent) =>
    (streamTypes === undefined || streamTypes.has(event.streamType)) &&
    (eventTypes === undefined || eventTypes.has(event.type))
}

interface StreamRecord {
  readonly streamType: string
  readonly events: Array<RecordedEvent>
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  // wake-ups go to the signal present when the store is built (if any)
  const signal = yield* Effect.serviceOption(CommitSignal)
  const log: Array<RecordedEvent> = []
  // when each event of the log was recorded (same index), for the age of a backlog
  const recordedAt: Array<number> = []
  const streams = new Map<string, StreamRecord>()
  const byEventId = new Map<string, RecordedEvent>()

  const append = Effect.fn("InMemoryEventStore.append")(function* (
    streamId: string,
    expected: ExpectedVersion.ExpectedVersion,
    events: ReadonlyArray<NewEvent>,
    options: AppendOptions
  ) {
    yield* validateAppend(streamId, events, options)
    const withIds = yield* withEventIds(events)
    const earlier = earlierAppend(streamId, withIds, (eventId) => byEventId.get(eventId))
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
    const now = yield* Clock.currentTimeMillis
    const recorded = withIds.map((event, index) => {
      const global = BigInt(log.length + index + 1)
      return recordedEvent(event, {
        streamId,
        streamType: options.streamType,
        version: current + index + 1,
        position: Position.make(global, global)
      })
    })
    // from here to the end nothing yields: the write is one atomic step
    streams.set(streamId, target)
    for (const event of recorded) {
      target.events.push(event)
      log.push(event)
      recordedAt.push(now)
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
      const matches = matcher(options)
      const start = options?.after === undefined ? 0 : Number(Position.globalPosition(options.after))
      return Stream.paginate(start, (from) => {
        const to = Math.min(from + batchSize, head)
        const page = log.slice(from, to).filter(matches)
        return Effect.succeed([page, to < head ? Option.some(to) : Option.none()] as const)
      })
    })

  const streamVersion = (streamId: string) => Effect.sync(() => streams.get(streamId)?.events.length ?? 0)

  const findEvent = (eventId: string) => Effect.sync(() => Option.fromNullishOr(byEventId.get(eventId.toLowerCase())))

  // every append commits at once, so what is committed is what a reader sees: both heads agree
  const lastPosition = (filter?: LogFilter) =>
    Effect.sync(() => {
      const matches = matcher(filter)
      return log.findLast(matches)?.position ?? Position.start
    })

  const countAfter = (after: Position.Position, filter?: LogFilter) =>
    Effect.sync(() => {
      const matches = matcher(filter)
      let events = 0
      let oldest: number | undefined
      // positions are (n, n) for the n-th event: everything after `after` is a suffix of the log
      for (let index = Number(Position.globalPosition(after)); index < log.length; index++) {
        if (matches(log[index] as RecordedEvent)) {
          events++
          oldest = Math.min(oldest ?? Number.POSITIVE_INFINITY, recordedAt[index] as number)
        }
      }
      return { events, oldest: Option.map(Option.fromUndefinedOr(oldest), (millis) => new Date(millis)) }
    })

  return EventStore.of({
    append,
    readStream,
    readAll,
    streamVersion,
    findEvent,
    headPosition: lastPosition,
    lastCommittedPosition: lastPosition,
    countAfter
  })
})

/**
 * A fresh, empty in-memory store.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make)
