/**
 * Runs one command against one aggregate: load the stream (read and fold), decide (pure), append
 * the events with `Exact(version)`. A `ConcurrencyConflict` means another writer moved the stream
 * between load and append: the whole cycle is retried with a bounded, jittered exponential
 * backoff. A rejection is never retried, and neither is a command whose caller named the version
 * it expects (HTTP If-Match): that caller must see the conflict.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option, Result, Schedule, Stream } from "effect"
import * as Aggregate from "./Aggregate.ts"
import * as Decider from "./Decider.ts"
import {
  ConcurrencyConflict,
  DecisionRejected,
  type InfrastructureError,
  InvalidEvent,
  type StreamNotFound
} from "./Errors.ts"
import type { EventMetadata, NewEvent, RecordedEvent } from "./EventEnvelope.ts"
import { type AppendError, EventStore } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as Json from "./Json.ts"
import { SnapshotStore } from "./SnapshotStore.ts"
import * as Uuid from "./Uuid.ts"

/**
 * Where a command comes from. `correlationId` and `causationId` are copied into every event's
 * metadata; a `commandId` becomes the causation id when none is given.
 *
 * @category models
 * @since 0.1.0
 */
export interface CommandContext {
  /**
   * Identifies the command for idempotency: its events get ids derived from it, and the same
   * command id again returns the first result instead of deciding anew (a redelivery).
   */
  readonly commandId?: string | undefined
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  /** The version the caller expects the stream at (HTTP If-Match). Disables the conflict retry. */
  readonly expectedVersion?: number | undefined
  /** Extra metadata keys for every event. */
  readonly metadata?: Readonly<Record<string, EventMetadata[string]>> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface CommandResult {
  readonly streamId: string
  /** The stream's version after the command (unchanged when it produced no events). */
  readonly version: number
  readonly events: ReadonlyArray<RecordedEvent>
  /** True when the command id was seen before and this is the first result, replayed. */
  readonly duplicate?: boolean | undefined
}

/**
 * @category errors
 * @since 0.1.0
 */
export type CommandHandlerError<Rejection> = DecisionRejected<Rejection> | AppendError

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** How conflicts are retried. Default: {@link defaultConflictRetry}. */
  readonly conflictRetry?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * 5 ms, then ×1.5 per attempt with ±20 % jitter, at most 250 ms apart, at most 10 retries.
 *
 * @category retry
 * @since 0.1.0
 */
export const defaultConflictRetry: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("5 millis", 1.5),
  Schedule.spaced("250 millis")
]).pipe(Schedule.jittered, Schedule.upTo({ times: 10 }))

/**
 * A loaded stream: its state, its version, and the version of the snapshot it started from
 * (0 when it was replayed from the start).
 *
 * @category models
 * @since 0.1.0
 */
export interface Loaded<State> {
  readonly state: State
  readonly version: number
  readonly snapshotVersion: number
}

type AnyAggregate<
  Command extends Aggregate.Tagged,
  Event extends Aggregate.Tagged,
  State,
  Rejection
> = Aggregate.Aggregate<Command, Event, State, Rejection>

/** The snapshot to start from, when the aggregate takes snapshots and a usable one exists. */
const loadSnapshot = <Command extends Aggregate.Tagged, Event extends Aggregate.Tagged, State, Rejection>(
  aggregate: AnyAggregate<Command, Event, State, Rejection>,
  streamId: string
): Effect.Effect<Loaded<State>> =>
  Effect.gen(function* () {
    const initial: Loaded<State> = { state: aggregate.decider.initialState, version: 0, snapshotVersion: 0 }
    const policy = aggregate.snapshot
    const snapshots = yield* Effect.serviceOption(SnapshotStore)
    if (policy === undefined || Option.isNone(snapshots)) return initial
    const found = yield* snapshots.value.load(streamId).pipe(
      // a snapshot is a cache: when it cannot be read, replay
      Effect.catchCause((cause) =>
        Effect.as(Effect.logWarning("snapshot load failed; replaying the stream", cause), Option.none())
      )
    )
    if (Option.isNone(found) || found.value.schemaVersion !== policy.schemaVersion) return initial
    const state = Aggregate.decodeState(policy, found.value.state)
    if (state === undefined) return initial
    return { state, version: found.value.version, snapshotVersion: found.value.version }
  })

/**
 * A stream's current state and version: the latest usable snapshot (if the aggregate takes
 * snapshots) plus the events after it, or a replay of the whole stream. `streamId` is the stored
 * stream id: with a category, `Aggregate.streamIdFor(aggregate, id)`.
 *
 * @category loading
 * @since 0.1.0
 */
export const load = <Command extends Aggregate.Tagged, Event extends Aggregate.Tagged, State, Rejection>(
  aggregate: AnyAggregate<Command, Event, State, Rejection>,
  streamId: string
): Effect.Effect<Loaded<State>, InvalidEvent | InfrastructureError, EventStore> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const start = yield* loadSnapshot(aggregate, streamId)
    return yield* store.readStream(streamId, { from: start.version + 1 }).pipe(
      Stream.mapEffect((recorded) =>
        // one namespace of stream ids: a stream of another type is not this aggregate's to decide on
        recorded.streamType === aggregate.streamType
          ? Aggregate.decodeEvent(aggregate, recorded)
          : Effect.fail(
              new InvalidEvent({
                streamId,
                reason: `stream '${streamId}' belongs to '${recorded.streamType}', not '${aggregate.streamType}'`
              })
            )
      ),
      Stream.runFold(
        (): Loaded<State> => start,
        (loaded, event): Loaded<State> => ({
          ...loaded,
          state: aggregate.decider.evolve(loaded.state, event),
          version: loaded.version + 1
        })
      ),
      Effect.catchTag("StreamNotFound", (_: StreamNotFound) => Effect.succeed(start))
    )
  })

/** After a successful append: write a snapshot when enough events accumulated. Never fails. */
const maybeSnapshot = <Command extends Aggregate.Tagged, Event extends Aggregate.Tagged, State, Rejection>(
  aggregate: AnyAggregate<Command, Event, State, Rejection>,
  streamId: string,
  loaded: Loaded<State>,
  decided: ReadonlyArray<Event>,
  version: number
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const policy = aggregate.snapshot
    if (policy === undefined || version - loaded.snapshotVersion < policy.every) return
    const snapshots = yield* Effect.serviceOption(SnapshotStore)
    if (Option.isNone(snapshots)) return
    const state = Decider.fold(aggregate.decider, decided, loaded.state)
    const encoded = Aggregate.encodeState(policy, state)
    if (encoded === undefined) return yield* Effect.logWarning(`snapshot of ${streamId} cannot be encoded; skipped`)
    yield* snapshots.value
      .save({
        streamId,
        streamType: aggregate.streamType,
        version,
        schemaVersion: policy.schemaVersion,
        state: encoded
      })
      .pipe(Effect.catchCause((cause) => Effect.logWarning(`snapshot of ${streamId} not written`, cause)))
  })

/**
 * The result of a command that was applied before (same command id): its events are stored under
 * ids derived from the command id, so a redelivered command is answered, not decided again.
 */
const alreadyApplied = Effect.fnUntraced(function* (streamId: string, commandId: string) {
  const store = yield* EventStore
  const first = yield* store.findEvent(Uuid.fromParts("command", commandId, 0))
  if (Option.isNone(first) || first.value.streamId !== streamId) return undefined
  const events = yield* store.readStream(streamId, { from: first.value.version }).pipe(
    Stream.zipWithIndex,
    Stream.takeWhile(([event, index]) => event.eventId === Uuid.fromParts("command", commandId, index)),
    Stream.map(([event]) => event),
    Stream.runCollect,
    Effect.catchTag("StreamNotFound", () => Effect.succeed([first.value]))
  )
  const last = events[events.length - 1] ?? first.value
  return { streamId, version: last.version, events, duplicate: true } satisfies CommandResult
})

/** With a command id: its first result when it was applied before (one lookup); otherwise none. */
const earlierResult = (streamId: string, context: CommandContext) =>
  context.commandId === undefined ? Effect.succeed(undefined) : alreadyApplied(streamId, context.commandId)

/**
 * Whether the store wrote these events now, rather than answering an earlier append of the same
 * ids (a redelivered command): events it wrote now follow the version we decided on and carry our
 * metadata.
 */
const writtenNow = (events: ReadonlyArray<RecordedEvent>, version: number, metadata: EventMetadata): boolean =>
  events.every((event, index) => event.version === version + 1 + index && Json.equals(event.metadata, metadata))

/**
 * A handler for one aggregate's commands.
 *
 * Round trips: a command on an existing stream reads it (snapshot first, when the aggregate takes
 * them) and appends; a command the aggregate marks `startsStream` only appends. A command id adds
 * no lookup on the way: a redelivery shows as a rejection, a conflict, a duplicate id or the
 * store's answer of the first append, and only then is the first result looked up.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <Command extends Aggregate.Tagged, Event extends Aggregate.Tagged, State, Rejection>(
  aggregate: Aggregate.Aggregate<Command, Event, State, Rejection>,
  options?: Options
) => {
  const conflictRetry = options?.conflictRetry ?? defaultConflictRetry
  const initial: Loaded<State> = { state: aggregate.decider.initialState, version: 0, snapshotVersion: 0 }

  /**
   * Decide on `loaded` and append at its version. `assumedNew`: `loaded` is the initial state of a
   * stream that was not read; `undefined` then means "read it and decide again" (the command was
   * refused or did nothing there, and the stored stream may say otherwise).
   */
  const decideAndAppend = Effect.fnUntraced(function* (
    command: Command,
    context: CommandContext,
    correlationId: string,
    loaded: Loaded<State>,
    assumedNew: boolean
  ): Effect.fn.Return<CommandResult | undefined, CommandHandlerError<Rejection>, EventStore> {
    const store = yield* EventStore
    const streamId = Aggregate.streamIdOf(aggregate, command)
    const { state, version } = loaded
    if (context.expectedVersion !== undefined && context.expectedVersion !== version) {
      return yield* new ConcurrencyConflict({ streamId, expected: String(context.expectedVersion), actual: version })
    }
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    const decision = aggregate.decider.decide(command, state, { now })
    if (Result.isFailure(decision)) {
      if (assumedNew) return undefined
      const earlier = yield* earlierResult(streamId, context)
      if (earlier !== undefined) return earlier
      return yield* new DecisionRejected({ streamId, commandType: command._tag, rejection: decision.failure })
    }
    const decided = decision.success
    if (decided.length === 0) {
      if (assumedNew) return undefined
      return (yield* earlierResult(streamId, context)) ?? { streamId, version, events: [] }
    }
    const causationId = context.causationId ?? context.commandId
    const metadata: EventMetadata = {
      ...context.metadata,
      correlationId,
      occurredAt: now,
      ...(causationId === undefined ? {} : { causationId })
    }
    const events: Array<NewEvent> = []
    for (const [index, event] of decided.entries()) {
      const { type, data, schemaVersion } = yield* Aggregate.encodeEvent(aggregate, streamId, event)
      // without a command id the store gives the ids: it need not look for an earlier append of them
      const eventId =
        context.commandId === undefined ? {} : { eventId: Uuid.fromParts("command", context.commandId, index) }
      events.push({ ...eventId, type, data, schemaVersion, metadata })
    }
    const orEarlier = <E>(error: E) =>
      Effect.flatMap(earlierResult(streamId, context), (earlier) =>
        earlier === undefined ? Effect.fail(error) : Effect.succeed(earlier)
      )
    const result = yield* store
      .append(streamId, ExpectedVersion.exact(version), events, {
        streamType: aggregate.streamType
      })
      .pipe(
        Effect.map(
          (appended): CommandResult =>
            context.commandId === undefined || writtenNow(appended.events, version, metadata)
              ? { streamId, version: appended.nextExpectedVersion, events: appended.events }
              : { streamId, version: appended.nextExpectedVersion, events: appended.events, duplicate: true }
        ),
        // a stream assumed new that exists is read and decided on by the caller; the store already
        // looked for an earlier append of these ids
        Effect.catchTag("ConcurrencyConflict", (conflict) =>
          assumedNew ? Effect.fail(conflict) : orEarlier(conflict)
        ),
        Effect.catchTag("DuplicateEventId", orEarlier)
      )
    if (result.duplicate !== true) yield* maybeSnapshot(aggregate, streamId, loaded, decided, result.version)
    return result
  })

  const loadAndDecide = (command: Command, context: CommandContext, correlationId: string) =>
    Effect.flatMap(load(aggregate, Aggregate.streamIdOf(aggregate, command)), (loaded) =>
      Effect.map(
        decideAndAppend(command, context, correlationId, loaded, false),
        // never undefined when the stream was read
        (result) => result as CommandResult
      )
    )

  return Effect.fn("CommandHandler.handle")(function* (
    command: Command,
    context: CommandContext = {}
  ): Effect.fn.Return<CommandResult, CommandHandlerError<Rejection> | InvalidEvent, EventStore> {
    yield* Effect.annotateCurrentSpan({
      "eventline.command": command._tag,
      "eventline.stream_type": aggregate.streamType
    })
    const correlationId = context.correlationId ?? context.commandId ?? (yield* Uuid.makeV7)
    const loaded = loadAndDecide(command, context, correlationId)
    const retried =
      context.expectedVersion === undefined
        ? loaded.pipe(Effect.retry({ schedule: conflictRetry, while: (error) => error._tag === "ConcurrencyConflict" }))
        : loaded
    const assumeNew =
      aggregate.startsStream?.(command) === true &&
      (context.expectedVersion === undefined || context.expectedVersion === 0)
    if (!assumeNew) return yield* retried
    // one round trip for a create: decide on the initial state and append as the first events
    const created = yield* decideAndAppend(command, context, correlationId, initial, true).pipe(
      Effect.catchTag("ConcurrencyConflict", () => Effect.succeed(undefined))
    )
    return created ?? (yield* retried)
  })
}
