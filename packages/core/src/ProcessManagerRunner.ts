/**
 * Runs a `ProcessManager` on the event store, on any store that provides the subscription ports
 * and a `DeadlineStore`.
 *
 * Built on the event store itself rather than effect/workflow: an instance's state is a stream
 * of the inputs it handled (`<name>-<key>`), so it is as durable and inspectable as any
 * aggregate, and one unit of work covers the whole step: the input recorded, the commands'
 * events appended through the `CommandBus`, the deadlines stored, the subscription's checkpoint
 * moved. On SQL a crash anywhere in a step leaves nothing behind, and the step runs again.
 *
 * Redeliveries never double an effect: an input already recorded (by the id of the event that
 * caused it) is not handled again, and every command carries an id derived from that input, so
 * even outside a transaction the command handler answers a repeat with its first result.
 * Deadlines are stored with a due time read from the Effect `Clock`; the active runner fires
 * them, after a restart too.
 *
 * @since 0.2.0
 */
import { Clock, Duration, Effect, Exit, Option, Schedule, Schema, type Scope, Stream } from "effect"
import type { Tagged } from "./Aggregate.ts"
import { CommandBus } from "./CommandBus.ts"
import { DeadlineStore } from "./DeadlineStore.ts"
import * as Errors from "./Errors.ts"
import type { RecordedEvent } from "./EventEnvelope.ts"
import { EventStore } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import type { ProcessManager } from "./ProcessManager.ts"
import * as Subscription from "./Subscription.ts"
import * as Uuid from "./Uuid.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** How often due deadlines are looked for. Default: 1 second. */
  readonly deadlinePollInterval?: Duration.Input | undefined
  readonly pollInterval?: Duration.Input | undefined
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly leaseTtl?: Duration.Input | undefined
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Handle<State> {
  readonly subscription: Subscription.Handle
  /** An instance's current state (the initial state when it never started). */
  readonly state: (key: string) => Effect.Effect<State, Errors.InfrastructureError | Errors.InvalidEvent>
  /** Fire the deadlines due now (the runner also does this on its own schedule). */
  readonly fireDueDeadlines: Effect.Effect<number, Errors.InfrastructureError>
}

const inputHandled = "InputHandled"
const HandledData = Schema.Struct({ source: Schema.String, input: Schema.Json })

/**
 * Start a process manager for the lifetime of the current scope.
 *
 * @category constructors
 * @since 0.2.0
 */
export const start = <Input extends Tagged, State, Command extends Tagged>(
  processManager: ProcessManager<Input, State, Command>,
  options?: Options
): Effect.Effect<Handle<State>, never, Scope.Scope | Subscription.Services | DeadlineStore | CommandBus> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const bus = yield* CommandBus
    const deadlines = yield* DeadlineStore
    const name = processManager.name
    const codec = Schema.toCodecJson(processManager.inputs)
    const streamIdOf = (key: string) => `${name}-${key}`
    const initial = () => ({ state: processManager.initialState, version: 0, sources: new Set<string>() })

    /** The instance's state, version and the sources of the inputs it already handled. */
    const load = (key: string) =>
      store.readStream(streamIdOf(key)).pipe(
        Stream.mapEffect((recorded) =>
          Schema.decodeUnknownEffect(HandledData)(recorded.data).pipe(
            Effect.flatMap((data) =>
              Effect.map(Schema.decodeUnknownEffect(codec)(data.input), (input) => ({ source: data.source, input }))
            ),
            Effect.mapError(
              () =>
                new Errors.InvalidEvent({
                  streamId: recorded.streamId,
                  reason: `input ${recorded.eventId} does not decode`
                })
            )
          )
        ),
        Stream.runFold(initial, (loaded, handled) => {
          loaded.sources.add(handled.source)
          return {
            state: processManager.evolve(loaded.state, handled.input),
            version: loaded.version + 1,
            sources: loaded.sources
          }
        }),
        Effect.catchTag("StreamNotFound", () => Effect.succeed(initial()))
      )

    /** One step: record the input, store the deadlines, send the commands (feeding rejections back). */
    const handleInput = (
      key: string,
      source: string,
      input: Input,
      correlationId: string
    ): Effect.Effect<void, unknown> =>
      Effect.gen(function* () {
        const loaded = yield* load(key)
        if (loaded.sources.has(source)) return
        const reaction = processManager.react(loaded.state, input)
        const encoded = yield* Schema.encodeUnknownEffect(codec)(input)
        yield* store.append(
          streamIdOf(key),
          ExpectedVersion.exact(loaded.version),
          [
            {
              eventId: Uuid.fromParts(name, key, source),
              type: inputHandled,
              schemaVersion: 1,
              data: { source, input: encoded },
              metadata: {
                correlationId,
                causationId: source,
                occurredAt: new Date(yield* Clock.currentTimeMillis).toISOString()
              }
            }
          ],
          { streamType: name }
        )
        for (const deadline of reaction.deadlines ?? []) {
          yield* deadlines.schedule({
            processManager: name,
            deadlineId: `${key}/${deadline.id}`,
            instanceKey: key,
            dueAt: new Date(deadline.at),
            input: yield* Schema.encodeUnknownEffect(codec)(deadline.input)
          })
        }
        for (const [index, command] of reaction.commands.entries()) {
          const commandId = Uuid.fromParts(name, key, source, index)
          const sent = yield* Effect.exit(bus.dispatch(command, { commandId, correlationId, causationId: source }))
          if (Exit.isSuccess(sent)) continue
          const error = Option.getOrUndefined(Exit.findErrorOption(sent))
          if (error !== undefined && error._tag === "DecisionRejected") {
            const next = processManager.onRejected(command, error.rejection)
            if (Option.isSome(next)) yield* handleInput(key, `${commandId}/rejected`, next.value, correlationId)
            continue
          }
          return yield* sent
        }
      })

    const subscription = yield* Subscription.start({
      name: `process-manager:${name}`,
      streamTypes: processManager.streamTypes,
      transactional: true,
      pollInterval: options?.pollInterval,
      retry: options?.retry,
      leaseTtl: options?.leaseTtl,
      handle: (event: RecordedEvent) => {
        const correlated = processManager.correlate(event)
        return Option.isNone(correlated)
          ? Effect.void
          : handleInput(correlated.value.key, event.eventId, correlated.value.input, event.metadata.correlationId)
      }
    })

    /** Fire one due deadline (the store keeps two runners from firing the same); false when none is due. */
    const fireOne = (now: Date) =>
      deadlines.fireNext(name, now, (due) =>
        Effect.flatMap(Schema.decodeUnknownEffect(codec)(due.input), (input) =>
          handleInput(due.instanceKey, `deadline/${due.deadlineId}`, input, due.instanceKey)
        )
      )

    const fireDueDeadlines = Effect.gen(function* () {
      const now = new Date(yield* Clock.currentTimeMillis)
      let fired = 0
      yield* fireOne(now).pipe(
        Effect.tap((firedOne) =>
          Effect.sync(() => {
            if (firedOne) fired++
          })
        ),
        Effect.repeat({ while: (firedOne) => firedOne })
      )
      return fired
    }).pipe(Effect.mapError(Errors.infrastructure(`${name}.deadlines`)))

    // only the runner that holds the subscription's lease fires deadlines
    const deadlinePoll = Duration.fromInputUnsafe(options?.deadlinePollInterval ?? "1 second")
    yield* Effect.gen(function* () {
      if (yield* subscription.isActive) {
        yield* fireDueDeadlines.pipe(
          Effect.catchCause((cause) => Effect.logWarning(`process manager ${name}: firing deadlines failed`, cause))
        )
      }
    }).pipe(Effect.repeat(Schedule.spaced(deadlinePoll)), Effect.forkScoped)

    return {
      subscription,
      state: (key: string) => Effect.map(load(key), (loaded) => loaded.state),
      fireDueDeadlines
    } satisfies Handle<State>
  })
