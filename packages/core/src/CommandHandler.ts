/**
 * Runs one command against one aggregate: load the stream (read and fold), decide (pure), append
 * the events with `Exact(version)`. A `ConcurrencyConflict` means another writer moved the stream
 * between load and append: the whole cycle is retried with a bounded, jittered exponential
 * backoff. A rejection is never retried, and neither is a command whose caller named the version
 * it expects (HTTP If-Match): that caller must see the conflict.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Result, Schedule, Stream } from "effect"
import * as Aggregate from "./Aggregate.ts"
import { ConcurrencyConflict, DecisionRejected, type InvalidEvent, type StreamNotFound } from "./Errors.ts"
import type { EventMetadata, NewEvent, RecordedEvent } from "./EventEnvelope.ts"
import { type AppendError, EventStore } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as Uuid from "./Uuid.ts"

/**
 * Where a command comes from. `correlationId` and `causationId` are copied into every event's
 * metadata; a `commandId` becomes the causation id when none is given.
 *
 * @category models
 * @since 0.1.0
 */
export interface CommandContext {
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
 * A stream's current state and version, folded from its events.
 *
 * @category loading
 * @since 0.1.0
 */
export const load = Effect.fnUntraced(function* <
  Command extends Aggregate.Tagged,
  Event extends Aggregate.Tagged,
  State,
  Rejection
>(aggregate: Aggregate.Aggregate<Command, Event, State, Rejection>, streamId: string) {
  const store = yield* EventStore
  return yield* store.readStream(streamId).pipe(
    Stream.mapEffect((recorded) => Aggregate.decodeEvent(aggregate, recorded)),
    Stream.runFold(
      () => ({ state: aggregate.decider.initialState, version: 0 }),
      (loaded, event) => ({ state: aggregate.decider.evolve(loaded.state, event), version: loaded.version + 1 })
    ),
    Effect.catchTag("StreamNotFound", (_: StreamNotFound) =>
      Effect.succeed({ state: aggregate.decider.initialState, version: 0 })
    )
  )
})

/**
 * A handler for one aggregate's commands.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <Command extends Aggregate.Tagged, Event extends Aggregate.Tagged, State, Rejection>(
  aggregate: Aggregate.Aggregate<Command, Event, State, Rejection>,
  options?: Options
) => {
  const conflictRetry = options?.conflictRetry ?? defaultConflictRetry

  const attempt = Effect.fnUntraced(function* (command: Command, context: CommandContext, correlationId: string) {
    const store = yield* EventStore
    const streamId = aggregate.streamId(command)
    const { state, version } = yield* load(aggregate, streamId)
    if (context.expectedVersion !== undefined && context.expectedVersion !== version) {
      return yield* new ConcurrencyConflict({ streamId, expected: String(context.expectedVersion), actual: version })
    }
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    const decision = aggregate.decider.decide(command, state, { now })
    if (Result.isFailure(decision)) {
      return yield* new DecisionRejected({ streamId, commandType: command._tag, rejection: decision.failure })
    }
    const decided = decision.success
    if (decided.length === 0) return { streamId, version, events: [] } satisfies CommandResult
    const causationId = context.causationId ?? context.commandId
    const metadata: EventMetadata = {
      ...context.metadata,
      correlationId,
      occurredAt: now,
      ...(causationId === undefined ? {} : { causationId })
    }
    const events: Array<NewEvent> = []
    for (const event of decided) {
      const { type, data } = yield* Aggregate.encodeEvent(aggregate, streamId, event)
      events.push({ type, data, schemaVersion: aggregate.schemaVersion, metadata })
    }
    const result = yield* store.append(streamId, ExpectedVersion.exact(version), events, {
      streamType: aggregate.streamType
    })
    return { streamId, version: result.nextExpectedVersion, events: result.events } satisfies CommandResult
  })

  return Effect.fn("CommandHandler.handle")(function* (
    command: Command,
    context: CommandContext = {}
  ): Effect.fn.Return<CommandResult, CommandHandlerError<Rejection> | InvalidEvent, EventStore> {
    yield* Effect.annotateCurrentSpan({
      "eventline.command": command._tag,
      "eventline.stream_type": aggregate.streamType
    })
    const correlationId = context.correlationId ?? context.commandId ?? (yield* Uuid.makeV7)
    const once = attempt(command, context, correlationId)
    if (context.expectedVersion !== undefined) return yield* once
    return yield* once.pipe(
      Effect.retry({
        schedule: conflictRetry,
        while: (error) => error._tag === "ConcurrencyConflict"
      })
    )
  })
}
